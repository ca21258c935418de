// The self-contained HTML report: every image inlined as a base64 PNG.
#include "digitnet/report/html.hpp"

#include <cstdio>

#include "digitnet/core/error.hpp"
#include "digitnet/report/figure.hpp"

namespace digitnet {

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string img(const Figure& f, const std::string& alt) {
  return "<img alt=\"" + html_escape(alt) + "\" width=\"" + std::to_string(f.width()) +
         "\" height=\"" + std::to_string(f.height()) + "\" src=\"data:image/png;base64," +
         base64(f.png()) + "\">\n";
}

std::string section(const std::string& id, const std::string& heading, const std::string& body) {
  return "<section id=\"" + id + "\">\n<h2>" + html_escape(heading) + "</h2>\n" + body +
         "</section>\n";
}

std::string json_scalar(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return fmt("%.6g", v.get<double>());
  return v.dump();
}

// A two-column table of a JSON object, nested objects flattened as "a.b".
void flatten(const nlohmann::json& j, const std::string& prefix, std::string& rows) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it->is_object())
      flatten(*it, key, rows);
    else
      rows += "<tr><th>" + html_escape(key) + "</th><td>" + html_escape(json_scalar(*it)) +
              "</td></tr>\n";
  }
}

constexpr const char* kStyle = R"(
body{font-family:"DejaVu Sans",Verdana,sans-serif;margin:2em auto;max-width:1120px;color:#222;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:.85em}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f2f2f2}table.kv th{text-align:left}table.kv td{text-align:left}td.name{text-align:left}
.note{color:#b00;font-weight:bold}.muted{color:#666}img{max-width:100%;height:auto}
nav a{margin-right:1em}
)";

}  // namespace

std::string base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (uint32_t{static_cast<uint8_t>(bytes[i])} << 16) |
                       (uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8) |
                       uint32_t{static_cast<uint8_t>(bytes[i + 2])};
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = uint32_t{static_cast<uint8_t>(bytes[i])} << 16;
    if (rest == 2) v |= uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string html_report(const Sequential& model, const std::string& model_path,
                        const Dataset& test) {
  const nlohmann::json& meta = model.metadata();
  std::string body;
  const std::string name = meta.contains("preset") && meta["preset"].is_string()
                               ? meta["preset"].get<std::string>()
                               : std::string("model");
  // The data set the model was trained on (metadata "dataset": {"name": ...});
  // model files written before it was recorded have none.
  std::string data_name;
  std::string data_rows;
  if (const auto d = meta.find("dataset"); d != meta.end()) {
    if (d->is_object()) {
      if (const auto n = d->find("name"); n != d->end() && n->is_string())
        data_name = n->get<std::string>();
      nlohmann::json rest = *d;
      rest.erase("name");
      flatten(rest, "", data_rows);
    } else if (d->is_string()) {
      data_name = d->get<std::string>();
    }
  }

  // Model summary.
  {
    std::string s = "<p>File: <code>" + html_escape(model_path) + "</code>, " +
                    std::to_string(model.count_params()) + " parameters.</p>\n";
    if (!data_name.empty())
      s += "<p id=\"dataset\">Data set: <strong>" + html_escape(data_name) + "</strong></p>\n";
    if (!data_rows.empty()) s += "<table class=\"kv\">\n" + data_rows + "</table>\n";
    s += "<pre>" + html_escape(model.summary()) + "</pre>\n";
    body += section("summary", "Model", s);
  }

  // Training settings.
  {
    std::string rows, augment;
    if (meta.contains("training") && meta["training"].is_object()) {
      nlohmann::json training = meta["training"];
      if (const auto a = training.find("augment"); a != training.end()) {
        augment = "<p id=\"augment\">Training images distorted at random: " +
                  html_escape(Augmentation::from_json(*a, "metadata.training.augment").describe()) +
                  ".</p>\n";
        training.erase("augment");
      }
      flatten(training, "", rows);
    }
    body += section("settings", "Training settings",
                    rows.empty() ? "<p class=\"muted\">No training settings are recorded in this "
                                   "model file.</p>\n"
                                 : augment + "<table class=\"kv\">\n" + rows + "</table>\n");
  }

  // Curves.
  {
    std::string s;
    if (meta.contains("history") && meta["history"].is_object()) {
      const History h = History::from_json(meta["history"]);
      if (!h.epochs.empty()) {
        s += img(history_figure({{name, h}}, "Training history: " + name), "training curves");
        const std::string note = overfitting_note(h);
        s += note.empty() ? "<p>No overfitting: validation loss did not turn up while training "
                            "loss kept falling.</p>\n"
                          : "<p class=\"note\" id=\"overfitting\">" + html_escape(note) + "</p>\n";
        if (const auto b = best_epoch(h))
          s += "<p>Best epoch (lowest validation loss): " + std::to_string(*b) + " of " +
               std::to_string(h.epochs.size()) + ".</p>\n";
      }
    }
    if (s.empty())
      s = "<p class=\"muted\">No training history is recorded in this model file.</p>\n";
    body += section("curves", "Training curves", s);
  }

  // Final metrics, per class, confusion and mistakes on the test set.
  const Tensor probs = model.predict(test, 0, test.size());
  Evaluation ev = model.evaluate(test);
  {
    std::string s = "<table class=\"kv\">\n";
    s += "<tr><th>test samples</th><td>" + std::to_string(ev.samples) + "</td></tr>\n";
    s += "<tr><th>test loss</th><td>" + fmt("%.4f", ev.loss) + "</td></tr>\n";
    s += "<tr><th>test accuracy</th><td>" + fmt("%.4f", ev.accuracy) + "</td></tr>\n";
    s += "<tr><th>macro F1</th><td>" + fmt("%.4f", ev.macro_f1) + "</td></tr>\n";
    s += "</table>\n";
    body += section("metrics", "Final metrics", s);
  }
  {
    const bool named = !ev.class_names.empty();
    std::string s = "<table>\n<tr><th>class</th>";
    if (named) s += "<th>name</th>";
    s += "<th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>\n";
    for (size_t c = 0; c < ev.classes.size(); ++c) {
      const auto& r = ev.classes[c];
      s += "<tr><td>" + std::to_string(c) + "</td>";
      if (named)
        s += "<td class=\"name\">" +
             html_escape(class_name(ev.class_names, static_cast<int64_t>(c))) + "</td>";
      s += "<td>" + fmt("%.4f", r.precision) + "</td><td>" + fmt("%.4f", r.recall) + "</td><td>" +
           fmt("%.4f", r.f1) + "</td><td>" + std::to_string(r.support) + "</td></tr>\n";
    }
    s += "</table>\n";
    body += section("classes", "Per-class precision, recall and F1", s);
  }
  body += section(
      "confusion", "Confusion matrix",
      img(confusion_figure(ev.confusion, "Confusion matrix", ev.class_names), "confusion matrix"));
  {
    const auto mistakes = find_mistakes(probs, test.labels);
    body += section(
        "mistakes", "Mistakes",
        "<p>" + std::to_string(mistakes.size()) + " of " + std::to_string(test.size()) +
            " test images are misclassified; the most confident mistakes:</p>\n" +
            img(mistakes_figure(test, mistakes, 36, ev.class_names), "misclassified images"));
  }
  {
    const auto kernel = first_conv_kernel(model);
    body += section("filters", "First convolution",
                    kernel ? img(filters_figure(*kernel), "first convolution filters")
                           : "<p class=\"muted\">This model has no convolution layer.</p>\n");
  }

  std::string nav = "<nav>";
  for (const char* id : kReportSections)
    nav += "<a href=\"#" + std::string(id) + "\">" + id + "</a>";
  nav += "</nav>\n";
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
         "<title>digitnet report: " +
         html_escape(name) + "</title>\n<style>" + kStyle +
         "</style>\n</head>\n<body>\n<h1>digitnet report: " + html_escape(name) +
         "</h1>\n<p class=\"muted\">Test accuracy " + fmt("%.4f", ev.accuracy) + " on " +
         std::to_string(ev.samples) + " images" +
         (data_name.empty() ? std::string() : " of " + html_escape(data_name)) + ".</p>\n" + nav +
         body + "</body>\n</html>\n";
}

}  // namespace digitnet
