// A streamed reply split into its reasoning (the text inside <think> ... </think>) and the rest
// (the answer): what r1 chat prints apart and what r1 serve returns as reasoning_content beside
// content. The tags themselves belong to neither. Tags may arrive split across pieces, so a tail
// that could still become a tag is held back until the next piece (or finish()).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace r1 {

class ThinkSplitter {
 public:
  struct Piece {
    bool reasoning;
    std::string text;
  };
  // in_think: the reply starts inside a <think> part (the prompt ended with "<think>").
  explicit ThinkSplitter(bool in_think = false) : in_think_(in_think) {}
  // Whether a prompt leaves its reply inside a <think> part: it ends with "<think>" and
  // whitespace at most.
  static bool starts_in_think(std::string_view prompt);

  // Appends text; returns the pieces that became certain, in order (consecutive text of one kind
  // as one piece; empty pieces left out). A "<think>" opens a reasoning part, a "</think>" closes it.
  std::vector<Piece> put(std::string_view text);
  // Whatever is still held back (the reply ended).
  std::vector<Piece> finish();
  bool in_think() const { return in_think_; }

 private:
  bool in_think_;
  std::string pending_;
};

}  // namespace r1
