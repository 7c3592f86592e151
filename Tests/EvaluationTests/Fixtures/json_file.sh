#!/usr/bin/env bash
# Writes its metrics to a JSON file in the working directory (the attempt directory).
cat > metrics.json <<EOF
{"eval": {"accuracy": 0.81, "loss": 0.42}, "bleu.4": {"corpus": 0.3}, "per_task": [0.1, 0.2]}
EOF
echo "wrote metrics.json"
