"""Trains a small transformer encoder sentiment classifier and exports it to ONNX.

Run by `npm run train-model` (tools/model/src/train-model.ts), which first tokenises the data through the
tokenizer service's own code path and writes the INT64 tensors this script reads: the ids a model is trained
on are, byte for byte, the ids it is served. Needs Debian's python3-torch and python3-onnx, run with
/usr/bin/python3.
"""

import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
from torch import nn


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--data', required=True, help='folder with the encoded splits (train.json, dev.json, ...)')
    p.add_argument('--out', required=True, help='model version folder to write model.onnx, config.json, training-report.json')
    p.add_argument('--version', required=True)
    p.add_argument('--labels', default='negative,positive')
    p.add_argument('--vocab-size', type=int, required=True)
    p.add_argument('--pad-token-id', type=int, required=True)
    p.add_argument('--max-positions', type=int, required=True)
    p.add_argument('--hidden', type=int, default=128)
    p.add_argument('--layers', type=int, default=2)
    p.add_argument('--heads', type=int, default=4)
    p.add_argument('--ffn', type=int, default=512)
    p.add_argument('--dropout', type=float, default=0.1)
    p.add_argument('--epochs', type=int, default=6)
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--weight-decay', type=float, default=0.01)
    p.add_argument('--warmup-fraction', type=float, default=0.06)
    p.add_argument('--seed', type=int, default=13)
    p.add_argument('--threads', type=int, default=2)
    return p.parse_args()


def load_split(data_dir, name):
    with open(os.path.join(data_dir, f'{name}.json')) as f:
        header = json.load(f)
    rows, seq = header['rows'], header['sequenceLength']
    files = header['files']

    def read(key, dtype):
        return np.fromfile(os.path.join(data_dir, files[key]), dtype=dtype)

    ids = read('inputIds', '<i8').reshape(rows, seq)
    mask = read('attentionMask', '<i8').reshape(rows, seq)
    labels = read('labels', np.uint8).astype(np.int64)
    long = read('long', np.uint8).astype(bool)
    lengths = mask.sum(axis=1)
    return {'ids': torch.from_numpy(ids), 'mask': torch.from_numpy(mask), 'labels': torch.from_numpy(labels),
            'long': torch.from_numpy(long), 'lengths': lengths}


class EncoderBlock(nn.Module):
    """Pre-norm self-attention and feed-forward. Padding reaches attention only as a -1e4 bias, whose
    exp() is exactly 0 in float32, so padded rows give the same result as unpadded ones."""

    def __init__(self, hidden, heads, ffn, dropout):
        super().__init__()
        self.heads = heads
        self.head_dim = hidden // heads
        self.norm1 = nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)
        self.norm2 = nn.LayerNorm(hidden)
        self.ffn = nn.Sequential(nn.Linear(hidden, ffn), nn.GELU(), nn.Linear(ffn, hidden))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, attention_bias):
        b, t, h = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.head_dim)) + attention_bias
        attended = torch.matmul(self.dropout(scores.softmax(dim=-1)), v)
        x = x + self.dropout(self.proj(attended.transpose(1, 2).reshape(b, t, h)))
        return x + self.dropout(self.ffn(self.norm2(x)))


class SentimentEncoder(nn.Module):
    def __init__(self, vocab_size, pad_token_id, max_positions, hidden, layers, heads, ffn, dropout, num_labels):
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, hidden, padding_idx=pad_token_id)
        self.positions = nn.Embedding(max_positions, hidden)
        self.embed_norm = nn.LayerNorm(hidden)
        self.blocks = nn.ModuleList([EncoderBlock(hidden, heads, ffn, dropout) for _ in range(layers)])
        self.final_norm = nn.LayerNorm(hidden)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh(), nn.Dropout(dropout),
                                        nn.Linear(hidden, num_labels))

    def forward(self, input_ids, attention_mask):
        seq = input_ids.size(1)
        x = self.tokens(input_ids) + self.positions.weight[:seq].unsqueeze(0)
        x = self.dropout(self.embed_norm(x))
        keep = attention_mask.to(x.dtype)
        bias = ((1.0 - keep) * -1e4)[:, None, None, :]
        for block in self.blocks:
            x = block(x, bias)
        x = self.final_norm(x)
        # Mean over real tokens: a padded position never enters the sum.
        pooled = (x * keep.unsqueeze(-1)).sum(dim=1) / keep.sum(dim=1, keepdim=True).clamp(min=1.0)
        return self.classifier(pooled)


def length_bucketed_batches(lengths, batch_size, generator):
    """Batches of similar length (so a batch is trimmed to little padding), in random order."""
    order = torch.randperm(len(lengths), generator=generator).numpy()
    noisy = lengths[order] + torch.rand(len(order), generator=generator).numpy()
    order = order[np.argsort(noisy, kind='stable')]
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def take(split, index):
    index = torch.as_tensor(np.sort(index))
    width = int(split['lengths'][index.numpy()].max())
    return split['ids'][index, :width], split['mask'][index, :width], split['labels'][index]


@torch.no_grad()
def evaluate(model, split, batch_size=512):
    model.eval()
    order = np.argsort(split['lengths'], kind='stable')
    predictions = torch.empty(len(order), dtype=torch.long)
    for i in range(0, len(order), batch_size):
        index = order[i:i + batch_size]
        ids, mask, _ = take(split, index)
        predictions[torch.as_tensor(np.sort(index))] = model(ids, mask).argmax(dim=-1)
    correct = predictions == split['labels']
    return correct.float().mean().item(), correct[split['long']].float().mean().item()


def export_onnx(model, path):
    model.eval()
    example = (torch.ones(2, 8, dtype=torch.long), torch.ones(2, 8, dtype=torch.long))
    dynamic = {'input_ids': {0: 'batch', 1: 'sequence'}, 'attention_mask': {0: 'batch', 1: 'sequence'},
               'logits': {0: 'batch'}}
    torch.onnx.export(model, example, path, input_names=['input_ids', 'attention_mask'], output_names=['logits'],
                      dynamic_axes=dynamic, opset_version=14, do_constant_folding=True)
    import onnx
    onnx.checker.check_model(onnx.load(path))


def warn_if_reference_blas():
    """Debian's torch calls whatever libblas.so.3 the alternatives system selects; the reference BLAS is
    about 25x slower than OpenBLAS here and turns minutes of training into hours."""
    a, b = torch.randn(512, 128), torch.randn(128, 512)
    started = time.time()
    for _ in range(20):
        a @ b
    if (time.time() - started) / 20 > 0.005:
        print('WARNING: matrix products are slow: the reference BLAS is active. '
              'apt-get install -y libopenblas0-pthread (training would take hours otherwise)', flush=True)


def main():
    args = parse_args()
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)
    warn_if_reference_blas()
    labels = args.labels.split(',')

    train = load_split(args.data, 'train')
    dev = load_split(args.data, 'dev')
    if train['ids'].size(1) > args.max_positions:
        sys.exit(f'train rows are {train["ids"].size(1)} tokens, more than --max-positions {args.max_positions}')

    model = SentimentEncoder(args.vocab_size, args.pad_token_id, args.max_positions, args.hidden, args.layers,
                             args.heads, args.ffn, args.dropout, len(labels))
    parameters = sum(p.numel() for p in model.parameters())
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and 'tokens' not in n and 'positions' not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and 'tokens' not in n and 'positions' not in n)]
    optimizer = torch.optim.AdamW([{'params': decay, 'weight_decay': args.weight_decay},
                                   {'params': no_decay, 'weight_decay': 0.0}], lr=args.lr)
    generator = torch.Generator().manual_seed(args.seed)
    steps_per_epoch = math.ceil(len(train['labels']) / args.batch_size)
    total_steps = steps_per_epoch * args.epochs
    warmup = max(1, int(total_steps * args.warmup_fraction))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total_steps - s) / max(1, total_steps - warmup))))
    loss_fn = nn.CrossEntropyLoss()

    print(f'[v{args.version}] {args.layers} layers, hidden {args.hidden}, {args.heads} heads, ffn {args.ffn}: '
          f'{parameters / 1e6:.2f}M parameters; {len(train["labels"])} train rows, {len(dev["labels"])} dev rows '
          f'({int(dev["long"].sum())} with >= 10 words)', flush=True)
    started = time.time()
    history, best, best_state = [], None, None
    for epoch in range(1, args.epochs + 1):
        model.train()
        epoch_started, loss_sum, seen = time.time(), 0.0, 0
        batches = length_bucketed_batches(train['lengths'], args.batch_size, generator)
        for step, index in enumerate(batches, 1):
            ids, mask, y = take(train, index)
            loss = loss_fn(model(ids, mask), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            loss_sum += loss.item() * len(y)
            seen += len(y)
            if step % 200 == 0 or step == len(batches):
                rate = seen / (time.time() - epoch_started)
                print(f'[v{args.version}] epoch {epoch}/{args.epochs} step {step}/{len(batches)} '
                      f'loss {loss_sum / seen:.4f} ({rate:.0f} rows/s)', flush=True)
        accuracy, long_accuracy = evaluate(model, dev)
        record = {'epoch': epoch, 'train_loss': round(loss_sum / seen, 5), 'dev_accuracy': round(accuracy, 5),
                  'dev_long_accuracy': round(long_accuracy, 5), 'seconds': round(time.time() - epoch_started, 1)}
        history.append(record)
        marker = ''
        if best is None or accuracy > best['dev_accuracy']:
            best, best_state, marker = record, {k: v.clone() for k, v in model.state_dict().items()}, '  (best)'
        print(f'[v{args.version}] epoch {epoch}: train loss {record["train_loss"]:.4f}, dev accuracy {accuracy:.4f}, '
              f'dev >= 10 words {long_accuracy:.4f}, {record["seconds"]} s{marker}', flush=True)

    model.load_state_dict(best_state)
    os.makedirs(args.out, exist_ok=True)
    export_onnx(model, os.path.join(args.out, 'model.onnx'))
    config = {
        'architectures': ['SentimentEncoderForSequenceClassification'],
        'model_type': 'inference-mesh-sentiment-encoder',
        'problem_type': 'single_label_classification',
        'vocab_size': args.vocab_size,
        'hidden_size': args.hidden,
        'num_hidden_layers': args.layers,
        'num_attention_heads': args.heads,
        'intermediate_size': args.ffn,
        'hidden_act': 'gelu',
        'max_position_embeddings': args.max_positions,
        'pad_token_id': args.pad_token_id,
        'id2label': {str(i): label for i, label in enumerate(labels)},
        'label2id': {label: i for i, label in enumerate(labels)},
    }
    with open(os.path.join(args.out, 'config.json'), 'w') as f:
        json.dump(config, f, indent=2)
        f.write('\n')
    report = {
        'version': args.version,
        'parameters': parameters,
        'hyperparameters': {k: getattr(args, k) for k in
                            ('hidden', 'layers', 'heads', 'ffn', 'dropout', 'epochs', 'batch_size', 'lr',
                             'weight_decay', 'warmup_fraction', 'seed')},
        'epochs': history,
        'best_epoch': best['epoch'],
        'dev_accuracy': best['dev_accuracy'],
        'dev_long_accuracy': best['dev_long_accuracy'],
        'dev_rows': len(dev['labels']),
        'dev_long_rows': int(dev['long'].sum()),
        'train_seconds': round(time.time() - started, 1),
        'torch_version': torch.__version__,
    }
    with open(os.path.join(args.out, 'training-report.json'), 'w') as f:
        json.dump(report, f, indent=2)
        f.write('\n')
    print(f'[v{args.version}] best epoch {best["epoch"]}: dev accuracy {best["dev_accuracy"]:.4f} '
          f'(>= 10 words: {best["dev_long_accuracy"]:.4f}); exported {args.out}/model.onnx', flush=True)


if __name__ == '__main__':
    main()
