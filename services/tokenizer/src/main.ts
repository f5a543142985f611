import { runService } from '@inference-mesh/service-kit';
import { readTokenizerConfig } from './config';
import { startTokenizerService } from './service';

runService('tokenizer', readTokenizerConfig, startTokenizerService);
