#include "rollout/think_split.h"

#include <algorithm>

namespace r1 {

bool ThinkSplitter::starts_in_think(std::string_view prompt) {
  while (!prompt.empty() &&
         (prompt.back() == ' ' || prompt.back() == '\n' || prompt.back() == '\t' || prompt.back() == '\r'))
    prompt.remove_suffix(1);
  return prompt.ends_with("<think>");
}

std::vector<ThinkSplitter::Piece> ThinkSplitter::put(std::string_view text) {
  std::vector<Piece> out;
  auto emit = [&](std::string s) {
    if (!s.empty()) out.push_back({in_think_, std::move(s)});
  };
  pending_ += text;
  for (;;) {
    const std::string_view tag = in_think_ ? "</think>" : "<think>";
    const size_t at = pending_.find(tag);
    if (at != std::string::npos) {
      emit(pending_.substr(0, at));
      pending_.erase(0, at + tag.size());
      in_think_ = !in_think_;
      continue;
    }
    // Hold back the longest suffix that is a prefix of the tag.
    size_t keep = 0;
    for (size_t k = std::min(tag.size() - 1, pending_.size()); k > 0; k--)
      if (pending_.compare(pending_.size() - k, k, tag.substr(0, k)) == 0) {
        keep = k;
        break;
      }
    emit(pending_.substr(0, pending_.size() - keep));
    pending_.erase(0, pending_.size() - keep);
    return out;
  }
}

std::vector<ThinkSplitter::Piece> ThinkSplitter::finish() {
  std::vector<Piece> out;
  if (!pending_.empty()) out.push_back({in_think_, std::move(pending_)});
  pending_.clear();
  return out;
}

}  // namespace r1
