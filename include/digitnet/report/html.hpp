// digitnet/report/html.hpp — one self-contained HTML report of a trained model.
#pragma once
#include <string>
#include <string_view>

#include "digitnet/data/dataset.hpp"
#include "digitnet/model/sequential.hpp"

namespace digitnet {

// RFC 4648 base64 (with padding).
std::string base64(std::string_view bytes);
// Escapes & < > " ' for HTML text and attributes.
std::string html_escape(std::string_view text);

// The section ids the report always has, in order.
inline constexpr const char* kReportSections[] = {"summary", "settings",  "curves",   "metrics",
                                                  "classes", "confusion", "mistakes", "filters"};

// The report of `model` (loaded from `model_path`) on `test`: model summary
// with the data set (metadata "dataset", {"name": ...}, when recorded),
// training settings (metadata "training"), curves (metadata "history") with
// the overfitting note, final metrics, per-class table, confusion matrix and
// the most confident mistakes, and the first convolution's filters when there
// is one. Classes are named by the model's class names, else the test set's,
// else numbered. Images are inlined as base64 PNG; nothing is fetched when
// opened. A missing history or convolution is said in words in its section.
std::string html_report(const Sequential& model, const std::string& model_path,
                        const Dataset& test);

}  // namespace digitnet
