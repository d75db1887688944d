// Seed 001's model with validation, early stopping and a CSV log, then the
// training curves as an SVG (docs/curves.svg in the README was made this way).
//   training_curves [output.svg]
#include <kiln/kiln.h>

#include <iostream>

int main(int argc, char** argv) {
  using namespace kiln::layers;
  namespace cb = kiln::callbacks;
  std::string svg = argc > 1 ? argv[1] : "curves.svg";
  kiln::set_random_seed(42);
  auto [train, test] = kiln::datasets::mnist::load_data();

  // Rescaling inside the model: the uint8 images are fed as they are.
  kiln::Sequential model(
      {Rescaling(1.0 / 255), Flatten(), Dense(128, "relu"), Dense(10, "softmax")});
  model.compile("adam", "sparse_categorical_crossentropy", {"accuracy"});
  kiln::History history =
      model.fit(train.x, train.y,
                {.epochs = 10,
                 .callbacks = {cb::EarlyStopping({.monitor = "val_loss",
                                                  .patience = 2,
                                                  .verbose = 1,
                                                  .restore_best_weights = true}),
                               cb::CSVLogger("training_log.csv")},
                 .validation_split = 0.1});
  auto [loss, accuracy] = model.evaluate(test.x, test.y, {.verbose = 0});
  std::cout << "test accuracy " << accuracy << "\n";
  history.plot(svg);
  std::cout << "wrote " << svg << " and training_log.csv\n";
  return 0;
}
