import { modelFiles, readModelConfig, tokenizerFingerprint } from '@inference-mesh/model-repository';
import type { Logger } from '@inference-mesh/service-kit';
import { BatchEncoder } from '@inference-mesh/tokenization';
import { ModelVersions, type ResolvedVersion } from '@inference-mesh/model-repository';

/** What the tokenizer serves for one model version. */
export interface TokenizerVersion {
  readonly encoder: BatchEncoder;
  /** Content hash of the version's tokenizer.json ('sha256:<hex>'), stamped on every response. */
  readonly fingerprint: string;
}

export interface TokenizerRegistryOptions {
  readonly repositoryRoot: string;
  readonly defaultModel: string;
  readonly logger: Logger;
}

/**
 * One BatchEncoder per model version, built from the version's tokenizer.json with the max length and pad id
 * of its config.json. Versions that agree on all three (a new model trained on the same vocabulary) share
 * one encoder, so a canary costs no second tokenizer in memory.
 */
export class TokenizerRegistry {
  private constructor(
    private readonly versions: ModelVersions<TokenizerVersion>,
    /** How many distinct encoders the versions share. */
    readonly encoderCount: number,
  ) {}

  static load(options: TokenizerRegistryOptions): TokenizerRegistry {
    const encoders = new Map<string, BatchEncoder>();
    const versions = ModelVersions.load<TokenizerVersion>({
      ...options,
      loadVersion: ({ dir }) => {
        const files = modelFiles(dir);
        const config = readModelConfig(dir);
        const fingerprint = tokenizerFingerprint(files.tokenizer);
        const key = `${fingerprint} maxLength=${config.maxSequenceLength} pad=${config.padTokenId ?? 'from tokenizer.json'}`;
        let encoder = encoders.get(key);
        if (!encoder) {
          encoder = BatchEncoder.fromFile(files.tokenizer, {
            maxLength: config.maxSequenceLength,
            ...(config.padTokenId === undefined ? {} : { padTokenId: config.padTokenId }),
          });
          encoders.set(key, encoder);
        }
        return { encoder, fingerprint };
      },
    });
    return new TokenizerRegistry(versions, encoders.size);
  }

  /** Empty name: the default model; empty version: the highest version that loaded. Unknown: NOT_FOUND. */
  resolve(modelName: string, modelVersion: string): ResolvedVersion<TokenizerVersion> {
    return this.versions.resolve(modelName, modelVersion);
  }

  /** Every version that loaded. */
  loaded(): ResolvedVersion<TokenizerVersion>[] {
    return this.versions.loaded();
  }
}
