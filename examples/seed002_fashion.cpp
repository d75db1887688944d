// Seed 002: Flatten -> Dense(128, relu) -> Dense(10, softmax) on Fashion-MNIST,
// Adam, 5 epochs.
#include <kiln/kiln.h>

#include <iostream>

int main() {
  using namespace kiln::layers;
  auto [train, test] = kiln::datasets::fashion_mnist::load_data();
  kiln::Tensor train_images = train.x / 255.0f, test_images = test.x / 255.0f;

  kiln::Sequential model({Flatten(), Dense(128, "relu"), Dense(10, "softmax")});
  model.compile(kiln::optimizers::Adam{}, "sparse_categorical_crossentropy", {"accuracy"});
  model.fit(train_images, train.y, {.epochs = 5});

  auto [test_loss, test_acc] = model.evaluate(test_images, test.y);
  std::cout << "\nTest accuracy: " << test_acc << "\n";
  kiln::Tensor predictions = model.predict(test_images);
  std::cout << "argmax(predictions[0]) = " << predictions[0].argmax() << "\n";
  return 0;
}
