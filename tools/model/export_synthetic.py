"""Exports a BERT-base-shaped encoder classifier with random weights, for benchmarks that need a model whose
compute dwarfs the cost of an RPC (the committed sentiment models are tiny, so on them the mesh's per-call costs
dominate). Same architecture and inputs as train.py's models (so the same tokenizer.json serves it), scaled to
BERT-base: hidden 768, 12 layers, 12 heads, FFN 3072. Its predictions are meaningless; its cost is realistic.

Writes a model repository version folder: model.onnx, config.json and a copy of the tokenizer.json.
Needs Debian's python3-torch and python3-onnx: /usr/bin/python3 tools/model/export_synthetic.py --out DIR
"""

import argparse
import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train import SentimentEncoder, export_onnx  # noqa: E402


def main():
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', required=True, help='version folder to write, e.g. bench/models/bert-base-synthetic/1')
    p.add_argument('--tokenizer', default=os.path.join(root, 'models', 'sentiment', '2', 'tokenizer.json'))
    p.add_argument('--hidden', type=int, default=768)
    p.add_argument('--layers', type=int, default=12)
    p.add_argument('--heads', type=int, default=12)
    p.add_argument('--ffn', type=int, default=3072)
    p.add_argument('--max-positions', type=int, default=128)
    p.add_argument('--seed', type=int, default=7)
    args = p.parse_args()

    vocab_size = len(json.load(open(args.tokenizer, encoding='utf-8'))['model']['vocab'])
    torch.manual_seed(args.seed)
    labels = ['negative', 'positive']
    model = SentimentEncoder(vocab_size, 0, args.max_positions, args.hidden, args.layers, args.heads, args.ffn, 0.0,
                             len(labels))
    parameters = sum(t.numel() for t in model.parameters())
    print(f'exporting a {args.layers}-layer encoder, hidden {args.hidden}: {parameters / 1e6:.1f}M random parameters',
          flush=True)
    os.makedirs(args.out, exist_ok=True)
    export_onnx(model, os.path.join(args.out, 'model.onnx'))
    shutil.copyfile(args.tokenizer, os.path.join(args.out, 'tokenizer.json'))
    config = {
        'architectures': ['SentimentEncoderForSequenceClassification'],
        'model_type': 'inference-mesh-sentiment-encoder',
        'problem_type': 'single_label_classification',
        'vocab_size': vocab_size, 'hidden_size': args.hidden, 'num_hidden_layers': args.layers,
        'num_attention_heads': args.heads, 'intermediate_size': args.ffn, 'hidden_act': 'gelu',
        'max_position_embeddings': args.max_positions, 'pad_token_id': 0,
        'id2label': {str(i): label for i, label in enumerate(labels)},
        'label2id': {label: i for i, label in enumerate(labels)},
        'inference_mesh': {'synthetic': True, 'note': 'random weights: for benchmarks only'},
    }
    with open(os.path.join(args.out, 'config.json'), 'w', encoding='utf-8') as f:
        json.dump(config, f, indent=2)
        f.write('\n')
    print(f'wrote {args.out}', flush=True)


if __name__ == '__main__':
    main()
