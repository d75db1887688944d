// Seed 001: Flatten -> Dense(128, relu) -> Dense(10, softmax), Adam, 5 epochs on MNIST.
#include <kiln/kiln.h>

#include <iostream>

int main() {
  using namespace kiln::layers;
  auto [train, test] = kiln::datasets::mnist::load_data();
  kiln::Tensor train_images = train.x / 255.0f, test_images = test.x / 255.0f;

  kiln::Sequential model({
      Flatten({28, 28}),
      Dense(128, "relu"),
      Dense(10, "softmax"),
  });
  model.summary();
  model.compile("adam", "sparse_categorical_crossentropy", {"accuracy"});
  model.fit(train_images, train.y, {.epochs = 5});

  auto [test_loss, test_acc] = model.evaluate(test_images, test.y);
  std::cout << "\nTest accuracy: " << test_acc << "\n";

  kiln::Tensor predictions = model.predict(test_images);
  std::cout << "predictions[0] argmax: " << predictions[0].argmax() << " (label "
            << int(test.y.data<uint8_t>()[0]) << ")\n";
  return test_acc >= 0.970 ? 0 : 1;
}
