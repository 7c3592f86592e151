#!/usr/bin/env bash
# A fake lm-evaluation-harness: takes --model_args pretrained=PATH, --output_path DIR and
# --acc X, and writes DIR/<sanitized model>/results_<timestamp>.json in lm-eval's layout
# (model name with "/" turned into "__"; keys "<metric>,<filter>" under results.<task>;
# "N/A" stderrs; higher_is_better; n-samples with a --limit of 100 on arc_easy).
# --stamp sets the timestamp; --two writes an older file too (after the newer one).
acc=0.7412; stamp=2026-12-02T01-02-03.123456; out=""; model=""; two=0
while [ $# -gt 0 ]; do
  case "$1" in
    --output_path) out="$2"; shift ;;
    --model_args) model="${2#pretrained=}"; model="${model%%,*}"; shift ;;
    --acc) acc="$2"; shift ;;
    --stamp) stamp="$2"; shift ;;
    --two) two=1 ;;
  esac
  shift
done
dir="$out/${model//\//__}"
mkdir -p "$dir"
write() {
cat > "$dir/results_$1.json" <<EOF
{
  "results": {
    "arc_easy": {
      "alias": "arc_easy",
      "acc,none": $2,
      "acc_stderr,none": 0.0090,
      "acc_norm,none": 0.7007,
      "acc_norm_stderr,none": 0.0094
    },
    "mmlu": {
      "acc,none": 0.5523,
      "acc_stderr,none": "N/A",
      "alias": "mmlu"
    },
    "wikitext": {
      "alias": "wikitext",
      "word_perplexity,none": 16.45,
      "word_perplexity_stderr,none": "N/A",
      "byte_perplexity,none": 1.68,
      "byte_perplexity_stderr,none": "N/A",
      "bits_per_byte,none": 0.7485,
      "bits_per_byte_stderr,none": "N/A"
    }
  },
  "groups": {
    "mmlu": {"acc,none": 0.5523, "acc_stderr,none": "N/A", "alias": "mmlu"}
  },
  "group_subtasks": {"arc_easy": [], "mmlu": ["mmlu_abstract_algebra"], "wikitext": []},
  "configs": {
    "arc_easy": {
      "task": "arc_easy",
      "dataset_path": "allenai/ai2_arc",
      "output_type": "multiple_choice",
      "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": true}],
      "metadata": {"version": 1.0}
    }
  },
  "versions": {"arc_easy": 1.0, "mmlu": 2, "wikitext": 2.0},
  "n-shot": {"arc_easy": 0, "mmlu": 0, "wikitext": 0},
  "higher_is_better": {
    "arc_easy": {"acc": true, "acc_norm": true},
    "mmlu": {"acc": true},
    "wikitext": {"word_perplexity": false, "byte_perplexity": false, "bits_per_byte": false}
  },
  "n-samples": {
    "arc_easy": {"original": 2376, "effective": 100},
    "wikitext": {"original": 62, "effective": 62}
  },
  "config": {"model": "hf", "model_args": "pretrained=$model", "limit": 100.0, "use_cache": null},
  "git_hash": "4f8a1c2",
  "date": 1764637323.0,
  "model_name": "$model",
  "model_name_sanitized": "${model//\//__}"
}
EOF
}
write "$stamp" "$acc"
if [ "$two" = 1 ]; then
  # Older by its name, but written last (newer mtime): the name's timestamp must win.
  sleep 0.05
  write 2026-12-01T23-59-59.000001 0.1111
fi
echo "hf (pretrained=$model), limit: 100.0"
echo "|  Tasks   |Version|Filter|n-shot|Metric|   |Value |   |Stderr|"
