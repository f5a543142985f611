import { runInstrumentedService } from '@inference-mesh/telemetry';
import { readTokenizerConfig } from './config';
import { startTokenizerService } from './service';

runInstrumentedService('tokenizer', readTokenizerConfig, startTokenizerService);
