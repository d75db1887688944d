// Seed 004 ("Beyond Hello World") and its exploration exercises.
//   seed004_fashion            the main model: Fashion-MNIST, 128 relu, Adam, 5 epochs
//   seed004_fashion N          exercise N (1-8)
// Exercises 3 and 4 are the tutorial's "you get an error" variants: Kiln
// reports a clear error instead of training. The main model also looks at the
// data as the tutorial does (training images 0 and 42 in the terminal, a grid
// of the first 25) and at its predictions (the first 15 test images with their
// class probabilities, a confusion matrix); the pictures go next to the program.
#include <kiln/kiln.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

namespace {

using namespace kiln::layers;

const std::vector<std::string> kClassNames = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                              "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                              "Bag",         "Ankle boot"};

// The directory of the program, where its pictures are written.
std::filesystem::path program_dir;

std::string picture(const std::string& name) { return (program_dir / name).string(); }

struct Data {
  kiln::Tensor x_train, y_train, x_test, y_test;
};

Data load(bool fashion, bool normalise = true) {
  auto [train, test] =
      fashion ? kiln::datasets::fashion_mnist::load_data() : kiln::datasets::mnist::load_data();
  float scale = normalise ? 255.0f : 1.0f;
  return {train.x / scale, train.y, test.x / scale, test.y};
}

// The tutorial's exercise pattern: compile with Adam, fit, evaluate, predict.
// Returns the predictions on the test images.
kiln::Tensor train_and_report(kiln::Sequential& model, const Data& d, int epochs,
                              std::vector<std::shared_ptr<kiln::Callback>> callbacks = {}) {
  model.compile("adam", "sparse_categorical_crossentropy", {"accuracy"});
  model.fit(d.x_train, d.y_train, {.epochs = epochs, .callbacks = callbacks});
  auto [loss, acc] = model.evaluate(d.x_test, d.y_test);
  std::cout << "test loss " << loss << ", test accuracy " << acc << "\n";
  kiln::Tensor classifications = model.predict(d.x_test);
  std::cout << "classifications[0] = " << classifications[0] << "\n";
  std::cout << "test_labels[0] = " << int(d.y_test.data<uint8_t>()[0]) << "\n";
  return classifications;
}

// "What do these values look like?": training images 0 and 42 (two different
// boots) in the terminal, and the first 25 with their labels in a picture.
void look_at_the_data(const Data& d) {
  for (int i : {0, 42}) {
    int label = d.y_train.data<uint8_t>()[i];
    std::cout << "training_images[" << i << "], label " << label << " (" << kClassNames[label]
              << "):\n";
    kiln::show(d.x_train[i]);
  }
  const std::string grid = picture("seed004_train_images.png");
  kiln::plot::images(d.x_train, d.y_train, kClassNames, grid);
  std::cout << "wrote " << grid << "\n";
}

// The first 15 test predictions (red when wrong, blue when right) and the
// confusion matrix of all 10,000.
void look_at_the_predictions(const Data& d, const kiln::Tensor& predictions) {
  const std::string plotted = picture("seed004_predictions.png");
  kiln::plot::predictions(d.x_test, predictions, d.y_test, kClassNames, plotted);
  std::cout << "wrote " << plotted << "\n";
  kiln::Tensor matrix = kiln::metrics::confusion_matrix(d.y_test, predictions, 10);
  const std::string confusion = picture("seed004_confusion_matrix.png");
  kiln::plot::confusion_matrix(matrix, kClassNames, confusion);
  std::cout << "wrote " << confusion << "\n";
}

// Exercise 8: stop training once the loss drops below 0.4.
class StopAtLoss : public kiln::Callback {
 public:
  void on_epoch_end(int epoch, const kiln::Logs& logs) override {
    if (logs.at("loss") < 0.4) {
      std::cout << "\nReached loss < 0.4 so cancelling training!\n";
      model->stop_training = true;
    }
  }
};

int run(int exercise) {
  switch (exercise) {
    case 0:
    case 1: {  // the main model; exercise 1 looks at classifications[0]
      Data d = load(true);
      look_at_the_data(d);
      kiln::Sequential model({Flatten(), Dense(128, "relu"), Dense(10, "softmax")});
      look_at_the_predictions(d, train_and_report(model, d, 5));
      return 0;
    }
    case 2: {  // 1024 neurons on MNIST
      kiln::Sequential model({Flatten(), Dense(1024, "relu"), Dense(10, "softmax")});
      train_and_report(model, load(false), 5);
      return 0;
    }
    case 3: {  // no Flatten: Kiln refuses the (None, 28, 10) output for integer labels
      kiln::Sequential model({Dense(64, "relu"), Dense(10, "softmax")});
      train_and_report(model, load(false), 5);
      return 0;
    }
    case 4: {  // 5 output units for 10 classes: labels out of range
      kiln::Sequential model({Flatten(), Dense(64, "relu"), Dense(5, "softmax")});
      train_and_report(model, load(false), 5);
      return 0;
    }
    case 5: {  // an extra layer (the tutorial's text intends 10 output units)
      kiln::Sequential model(
          {Flatten(), Dense(512, "relu"), Dense(256, "relu"), Dense(10, "softmax")});
      train_and_report(model, load(false), 5);
      return 0;
    }
    case 6: {  // 30 epochs: watch the training loss flatten while test loss rises
      kiln::Sequential model({Flatten(), Dense(128, "relu"), Dense(10, "softmax")});
      train_and_report(model, load(false), 30);
      return 0;
    }
    case 7: {  // no normalisation: pixels 0..255
      kiln::Sequential model({Flatten(), Dense(512, "relu"), Dense(10, "softmax")});
      train_and_report(model, load(false, /*normalise=*/false), 5);
      return 0;
    }
    case 8: {
      kiln::Sequential model({Flatten(), Dense(512, "relu"), Dense(10, "softmax")});
      train_and_report(model, load(true), 5, {std::make_shared<StopAtLoss>()});
      return 0;
    }
  }
  std::cerr << "unknown exercise " << exercise << " (0-8)\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  int exercise = argc > 1 ? std::atoi(argv[1]) : 0;
  if (argc > 0) program_dir = std::filesystem::path(argv[0]).parent_path();
  try {
    return run(exercise);
  } catch (const kiln::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
