// Seed 002: Flatten -> Dense(128, relu) -> Dense(10, softmax) on Fashion-MNIST,
// Adam, 5 epochs. Like the Fashion-MNIST tutorial, it looks at the first 25
// training images and at the first test predictions; both pictures are
// written next to the program.
#include <kiln/kiln.h>

#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

namespace {

// Pictures go beside the program, where a build leaves them easy to find.
std::string beside_program(const char* argv0, const std::string& name) {
  return (std::filesystem::path(argv0).parent_path() / name).string();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace kiln::layers;
  const std::vector<std::string> class_names = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                "Bag",         "Ankle boot"};
  auto [train, test] = kiln::datasets::fashion_mnist::load_data();
  kiln::Tensor train_images = train.x / 255.0f, test_images = test.x / 255.0f;

  const std::string grid = beside_program(argc > 0 ? argv[0] : "", "seed002_train_images.png");
  kiln::plot::images(train_images, train.y, class_names, grid);
  std::cout << "wrote " << grid << "\n";

  kiln::Sequential model({Flatten(), Dense(128, "relu"), Dense(10, "softmax")});
  model.compile(kiln::optimizers::Adam{}, "sparse_categorical_crossentropy", {"accuracy"});
  model.fit(train_images, train.y, {.epochs = 5});

  auto [test_loss, test_acc] = model.evaluate(test_images, test.y);
  std::cout << "\nTest accuracy: " << test_acc << "\n";
  kiln::Tensor predictions = model.predict(test_images);
  std::cout << "argmax(predictions[0]) = " << predictions[0].argmax() << "\n";

  const std::string plotted = beside_program(argc > 0 ? argv[0] : "", "seed002_predictions.png");
  kiln::plot::predictions(test_images, predictions, test.y, class_names, plotted);
  std::cout << "wrote " << plotted << "\n";
  return 0;
}
