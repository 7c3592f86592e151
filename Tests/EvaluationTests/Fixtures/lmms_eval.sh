#!/usr/bin/env bash
# A fake lmms-eval: takes --model_args pretrained=PATH and --output_path DIR, and writes
# DIR/<sanitized model>/<YYYYmmdd_HHMMSS>_results.json in lmms-eval's layout (the last two
# path parts of the model joined by "__"), logging to stdout as lmms-eval does.
out=""; model=""
while [ $# -gt 0 ]; do
  case "$1" in
    --output_path) out="$2"; shift ;;
    --model_args) model="${2#pretrained=}"; model="${model%%,*}"; shift ;;
  esac
  shift
done
last_two="$(basename "$(dirname "$model")")__$(basename "$model")"
dir="$out/$last_two"
mkdir -p "$dir"
cat > "$dir/20261202_090203_results.json" <<EOF
{
  "results": {
    "mmmu_val": {"alias": "mmmu_val", "mmmu_acc,none": 0.4122, "mmmu_acc_stderr,none": "N/A"},
    "textvqa_val": {"alias": "textvqa_val", "exact_match,none": 0.6531, "exact_match_stderr,none": 0.0067}
  },
  "group_subtasks": {"mmmu_val": [], "textvqa_val": []},
  "configs": {"mmmu_val": {"task": "mmmu_val", "dataset_path": "lmms-lab/MMMU"}},
  "versions": {"mmmu_val": 0.0, "textvqa_val": "Yaml"},
  "n-shot": {"mmmu_val": 0, "textvqa_val": 0},
  "higher_is_better": {"mmmu_val": {"mmmu_acc": true}, "textvqa_val": {"exact_match": true}},
  "n-samples": {"mmmu_val": {"original": 900, "effective": 900}, "textvqa_val": {"original": 5000, "effective": 5000}},
  "model_name": "$model",
  "model_name_sanitized": "$last_two"
}
EOF
echo "2026-12-02 09:02:03.000 | INFO | lmms_eval.evaluator:evaluate:500 - Saving results"
