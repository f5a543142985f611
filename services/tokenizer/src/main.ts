import { runInstrumentedService } from '@inference-mesh/telemetry';
import { readTokenizerConfig } from './config';
import { startTokenizerServer } from './server';

runInstrumentedService('tokenizer', readTokenizerConfig, startTokenizerServer);
