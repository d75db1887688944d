// Seed 003: inputs reshaped to (N, 784) and scaled to [0, 1]; Dense(512, relu)
// -> Dense(10, softmax); RMSprop; 5 epochs of batch 128.
#include <kiln/kiln.h>

#include <iostream>

int main() {
  using namespace kiln::layers;
  auto [train, test] = kiln::datasets::mnist::load_data();
  kiln::Tensor train_images = train.x.reshape({60000, 28 * 28}) / 255.0f;
  kiln::Tensor test_images = test.x.reshape({10000, 28 * 28}) / 255.0f;

  kiln::Sequential model({Dense(512, "relu"), Dense(10, "softmax")});
  model.compile("rmsprop", "sparse_categorical_crossentropy", {"accuracy"});
  model.fit(train_images, train.y, {.epochs = 5, .batch_size = 128});

  kiln::Tensor test_digits = test_images.slice(0, 10);
  kiln::Tensor prediction = model.predict(test_digits);
  std::cout << "prediction[0] = " << prediction[0] << "\n";
  std::cout << "prediction[0].argmax() = " << prediction[0].argmax() << "\n";
  auto [test_loss, test_acc] = model.evaluate(test_images, test.y);
  std::cout << "test_acc: " << test_acc << "\n";
  return 0;
}
