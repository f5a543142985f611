"""Writes the `topic` test fixture: a tiny BERT-style 3-label classifier served by tests/src/other-model.test.ts.

It stands in for a Hugging Face model exported with Optimum, as the README's "Serving another Hugging Face
classifier" describes: three INT64 inputs `input_ids`, `token_type_ids`, `attention_mask` ([batch, sequence]),
FP32 `logits` [batch, 3], a config.json with `id2label`, and a tokenizer.json (the default model's vocabulary,
8192 WordPiece tokens). The graph is a bag of embeddings, small and deterministic:

    h      = word_embeddings[input_ids] + token_type_embeddings[token_type_ids]      [batch, sequence, 5]
    pooled = sum(h * attention_mask) / sum(attention_mask) over the sequence           [batch, 5]
    logits = pooled @ classifier_weight + classifier_bias                              [batch, 3]

The first three embedding dimensions carry a topic each and a few keywords point strongly into theirs, so that
"the team won the match" is sports; every other token gets small seeded noise. The two token-type rows differ
by a large vector, so a server feeding any token_type_ids other than zeros gets visibly different scores.

Needs only numpy and onnx (Debian's python3-onnx); run from the repository root with /usr/bin/python3:

    /usr/bin/python3 tools/model/make_fixture_model.py

The outputs are committed under tests/fixtures/model-repository/topic/1/; the tests need neither Python nor onnx.
"""

import argparse
import json
import os
import shutil

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

LABELS = ['world', 'sports', 'science']
KEYWORDS = {
    'world': ['world', 'war', 'political', 'nation', 'country'],
    'sports': ['sports', 'game', 'team', 'match', 'season'],
    'science': ['science', 'space', 'experiment', 'lab', 'computer', 'technology', 'planet'],
}
HIDDEN = 5  # 8192 x 5 floats: 160 KiB, so the fixture folder stays under 400 KB with its tokenizer.json
MAX_POSITIONS = 64
SEED = 20240614
OPSET = 14
IR_VERSION = 8  # onnxruntime 1.30 reads up to IR 10; 8 is what opset 14 was released with


def vocabulary(tokenizer_json):
    with open(tokenizer_json, encoding='utf-8') as f:
        tokenizer = json.load(f)
    vocab = tokenizer['model']['vocab']
    size = max(vocab.values()) + 1
    for added in tokenizer.get('added_tokens') or []:
        size = max(size, added['id'] + 1)
    return vocab, size


def weights(vocab, vocab_size):
    rng = np.random.RandomState(SEED)
    words = (rng.standard_normal((vocab_size, HIDDEN)) * 0.3).astype(np.float32)
    for topic, tokens in KEYWORDS.items():
        dim = LABELS.index(topic)
        for token in tokens:
            words[vocab[token], dim] += 6.0
    types = np.zeros((2, HIDDEN), dtype=np.float32)
    types[0] = (rng.standard_normal(HIDDEN) * 0.1).astype(np.float32)
    # Segment 1 leans hard towards "science" and away from "world": feeding ones instead of zeros shows.
    types[1] = types[0] + np.array([-3.0, 0.5, 3.0] + [1.0] * (HIDDEN - 3), dtype=np.float32)
    weight = np.zeros((HIDDEN, 3), dtype=np.float32)
    weight[:3, :3] = np.eye(3, dtype=np.float32)
    weight[3:, :] = (rng.standard_normal((HIDDEN - 3, 3)) * 0.2).astype(np.float32)
    bias = np.array([0.05, -0.02, -0.03], dtype=np.float32)
    return words, types, weight, bias


def graph(words, types, weight, bias):
    seq = ['batch', 'sequence']
    inputs = [helper.make_tensor_value_info(name, TensorProto.INT64, seq) for name in ('input_ids', 'token_type_ids', 'attention_mask')]
    outputs = [helper.make_tensor_value_info('logits', TensorProto.FLOAT, ['batch', 3])]
    initializers = [
        numpy_helper.from_array(words, 'word_embeddings'),
        numpy_helper.from_array(types, 'token_type_embeddings'),
        numpy_helper.from_array(weight, 'classifier_weight'),
        numpy_helper.from_array(bias, 'classifier_bias'),
        numpy_helper.from_array(np.array([1], dtype=np.int64), 'sequence_axis'),
        numpy_helper.from_array(np.array([2], dtype=np.int64), 'feature_axis'),
        numpy_helper.from_array(np.array(1e-9, dtype=np.float32), 'epsilon'),
    ]
    nodes = [
        helper.make_node('Gather', ['word_embeddings', 'input_ids'], ['word_vectors'], axis=0),
        helper.make_node('Gather', ['token_type_embeddings', 'token_type_ids'], ['type_vectors'], axis=0),
        helper.make_node('Add', ['word_vectors', 'type_vectors'], ['hidden']),
        helper.make_node('Cast', ['attention_mask'], ['mask_float'], to=TensorProto.FLOAT),
        helper.make_node('Unsqueeze', ['mask_float', 'feature_axis'], ['mask_3d']),
        helper.make_node('Mul', ['hidden', 'mask_3d'], ['masked_hidden']),
        helper.make_node('ReduceSum', ['masked_hidden', 'sequence_axis'], ['hidden_sum'], keepdims=0),
        helper.make_node('ReduceSum', ['mask_3d', 'sequence_axis'], ['token_count'], keepdims=0),
        helper.make_node('Max', ['token_count', 'epsilon'], ['safe_count']),
        helper.make_node('Div', ['hidden_sum', 'safe_count'], ['pooled']),
        helper.make_node('MatMul', ['pooled', 'classifier_weight'], ['projected']),
        helper.make_node('Add', ['projected', 'classifier_bias'], ['logits']),
    ]
    model = helper.make_model(
        helper.make_graph(nodes, 'topic_bag_of_embeddings', inputs, outputs, initializers),
        opset_imports=[helper.make_opsetid('', OPSET)],
        producer_name='inference-mesh tools/model/make_fixture_model.py',
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def config(vocab_size):
    return {
        'architectures': ['BertForSequenceClassification'],
        'model_type': 'bert',
        'problem_type': 'single_label_classification',
        'vocab_size': vocab_size,
        'hidden_size': HIDDEN,
        'type_vocab_size': 2,
        'max_position_embeddings': MAX_POSITIONS,
        'pad_token_id': 0,
        'id2label': {str(i): label for i, label in enumerate(LABELS)},
        'label2id': {label: i for i, label in enumerate(LABELS)},
    }


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--tokenizer', default=os.path.join(root, 'models', 'sentiment', '1', 'tokenizer.json'))
    p.add_argument('--out', default=os.path.join(root, 'tests', 'fixtures', 'model-repository', 'topic', '1'))
    args = p.parse_args()

    vocab, vocab_size = vocabulary(args.tokenizer)
    os.makedirs(args.out, exist_ok=True)
    onnx.save(graph(*weights(vocab, vocab_size)), os.path.join(args.out, 'model.onnx'))
    with open(os.path.join(args.out, 'config.json'), 'w', encoding='utf-8') as f:
        json.dump(config(vocab_size), f, indent=2)
        f.write('\n')
    shutil.copyfile(args.tokenizer, os.path.join(args.out, 'tokenizer.json'))
    for name in sorted(os.listdir(args.out)):
        print(f'{os.path.join(args.out, name)}: {os.path.getsize(os.path.join(args.out, name))} bytes')


if __name__ == '__main__':
    main()
