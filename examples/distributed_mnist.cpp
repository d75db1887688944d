// Seed 001 trained data-parallel: run it with `mpirun -np 2
// build/examples/distributed_mnist` (or alone, as one process). Every process
// loads the data and builds the same model; fit() gives each process
// batch_size / N rows of every global batch and averages the gradients over
// the job, so the result matches one process at the same global batch. Only
// rank 0 prints.
#include <kiln/kiln.h>

#include <iostream>

int main() {
  using namespace kiln::layers;
  const int rank = kiln::distributed::rank(), processes = kiln::distributed::world_size();
  auto [train, test] = kiln::datasets::mnist::load_data();
  kiln::Tensor train_images = train.x / 255.0f, test_images = test.x / 255.0f;

  kiln::Sequential model({
      Flatten({28, 28}),
      Dense(128, "relu"),
      Dense(10, "softmax"),
  });
  if (rank == 0) {
    std::cout << "Data-parallel training on " << processes << " process"
              << (processes > 1 ? "es" : "") << "\n";
    model.summary();
  }
  model.compile("adam", "sparse_categorical_crossentropy", {"accuracy"});
  // The global batch: each of the N processes trains on 32 / N rows of it.
  model.fit(train_images, train.y, {.epochs = 5, .batch_size = 32});

  // Each process evaluates its share of the test set; all get the total.
  auto [test_loss, test_acc] = model.evaluate(test_images, test.y);
  if (rank == 0) std::cout << "\nTest accuracy: " << test_acc << "\n";
  return test_acc >= 0.970 ? 0 : 1;
}
