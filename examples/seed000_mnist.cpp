// Seed 000: a logits model (128-128-10) trained with SGD and from_logits=true
// for 10 epochs, then wrapped in a probability model with a Softmax layer.
#include <kiln/kiln.h>

#include <iostream>

int main() {
  using namespace kiln::layers;
  auto [train, test] = kiln::datasets::mnist::load_data();
  kiln::Tensor train_images = train.x / 255.0f, test_images = test.x / 255.0f;

  kiln::Sequential model({
      Flatten({28, 28}),
      Dense(128, "relu"),
      Dense(128, "relu"),
      Dense(10),
  });
  model.compile("sgd", kiln::losses::SparseCategoricalCrossentropy{.from_logits = true},
                {"accuracy"});
  model.fit(train_images, train.y, {.epochs = 10});

  auto [test_loss, test_acc] = model.evaluate(test_images, test.y, {.verbose = 2});
  std::cout << "\n Test Accuracy : " << test_acc << "\n";

  // The probability model shares the trained layers and adds a softmax.
  kiln::Sequential probability_model({model, Softmax()});
  kiln::Tensor predictions = probability_model.predict(test_images);
  std::cout << "predictions[0] = " << predictions[0] << "\n";
  std::cout << "argmax: " << predictions[0].argmax()
            << ", test_labels[0]: " << int(test.y.data<uint8_t>()[0]) << "\n";
  return 0;
}
