// r1 distill --demo: the DeepSeek-R1 paper's Table 6 claim (distilling a strong reasoner beats
// running the same RL on a small model) at toy scale, in the world of r1 zero. The teacher is the
// model r1 zero trains (its run is reused when complete); the student is a smaller base model
// pretrained on the same corpus (builtin:zero). From that one student base, three arms:
//   (a) GRPO on the student: r1 zero's recipe;
//   (b) SFT on the teacher's rejection-sampled traces (r1 distill: k samples per training problem,
//       the correct ones kept, one per problem);
//   (c) on-policy distillation: r1 zero's GRPO recipe plus the teacher's per-token signal.
// Every model (teacher, student base, the three arms) is evaluated the same way: held-out pass@1
// over k = 8 samples at T 0.6, top-p 0.95, on r1 zero's test problems; each arm's wall-clock is
// measured without the evaluation. DIR/report.md and DIR/report.json hold the table.
#pragma once

#include <string>

namespace r1 {

struct DistillDemoOptions {
  std::string dir = "runs/distill-demo";
  std::string zero_dir;  // the teacher's r1 zero run directory ("": DIR/zero), reused when complete
  bool quick = false;    // tiny settings everywhere: a smoke test of the pipeline, not a result
};

// Returns the exit code (0 done; a stage's own code when it is interrupted).
int run_distill_demo(const DistillDemoOptions& opt);

}  // namespace r1
