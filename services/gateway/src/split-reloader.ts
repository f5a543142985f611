import type { Logger } from '@inference-mesh/service-kit';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { GatewayMetrics } from './gateway-metrics';
import type { SplitCheck } from './split-check';
import {
  formatVersionWeights,
  LiveVersionSplit,
  parseVersionWeights,
  sameVersionWeights,
  VERSION_WEIGHTS_VARIABLE,
  type VersionWeight,
} from './version-split';

/** A refused split whose file has not changed is checked again this often: its version may have come up since. */
export const REFUSED_RECHECK_MS = 10_000;

export interface SplitReloaderOptions {
  /** IMESH_MODEL_VERSION_WEIGHTS: the split when no file is configured, or while the file cannot be read at start. */
  readonly initial: readonly VersionWeight[];
  /** IMESH_MODEL_VERSION_WEIGHTS_FILE; absent: the initial split is the split for good (still checked). */
  readonly file?: string;
  /** How often the file is read, and an unconfirmed split checked again while the model service does not answer. */
  readonly pollIntervalMs: number;
  readonly recheckRefusedMs?: number;
  /** Asks the model service whether it serves a split's versions (split-check.ts). */
  readonly check: SplitCheck;
  readonly logger: Logger;
  readonly metrics?: Pick<GatewayMetrics, 'recordSplitRefused' | 'trackVersionSplit'>;
  /**
   * Called with false when no good split is left (the split the gateway started with was refused: it then serves
   * the latest version), and with true once a good one is loaded. The gateway reports it as its readiness.
   */
  readonly onUsable?: (usable: boolean) => void;
}

/** A split read from the file that is not in force yet: waiting for the model service's answer, or refused. */
interface Candidate {
  readonly weights: readonly VersionWeight[];
  /** Refused once already: logged and counted then, not again at each recheck. */
  refused: boolean;
  /** An undecided check has been logged. */
  waitingLogged: boolean;
  nextCheckAt: number;
}

/**
 * The gateway's version split, loaded from IMESH_MODEL_VERSION_WEIGHTS_FILE while it runs: the file is read every
 * poll interval and its content compared with the last one seen. Kubernetes updates a ConfigMap volume by
 * pointing its `..data` symlink at a new directory, which file watches miss (they follow the old inode): reading
 * the path each time follows the symlinks to whatever is current. A new split goes into force only once the model
 * service has confirmed its versions (split-check.ts); until then, and when it is refused, the split in force
 * stays. Requests read `live.current`, swapped whole, so a change costs them nothing.
 */
export class SplitReloader {
  readonly live = new LiveVersionSplit();
  /** The split in force has been checked (or is none, which needs no check). */
  private confirmed = true;
  private candidate: Candidate | undefined;
  private lastText: string | undefined;
  private unreadableLogged = false;
  private usable = true;
  /** The file held no split at start, and the variable none either. */
  private refusedAtStart = false;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private stopped = false;

  constructor(private readonly options: SplitReloaderOptions) {
    options.metrics?.trackVersionSplit(() => this.live.weights);
  }

  /**
   * Puts the starting split in force at once: the file's, read now, or else IMESH_MODEL_VERSION_WEIGHTS. Call it
   * before serving; then `start` checks it and polls.
   */
  load(): void {
    const { file, logger } = this.options;
    let weights = this.options.initial;
    let source = VERSION_WEIGHTS_VARIABLE;
    if (file) {
      let text: string | undefined;
      try {
        text = readFileSync(file, 'utf8');
      } catch (error) {
        this.unreadableLogged = true;
        logger.warn('version split file unreadable at start: using IMESH_MODEL_VERSION_WEIGHTS until it can be read', {
          file,
          error: (error as Error).message,
        });
      }
      if (text !== undefined) {
        this.lastText = text;
        const parsed = this.parse(text);
        if (parsed) {
          weights = parsed;
          source = file;
        } else if (weights.length === 0) {
          // A split was configured and none is good: as for a split the model service refuses at start.
          this.refusedAtStart = true;
        }
      }
    }
    this.live.set(weights);
    this.confirmed = weights.length === 0;
    logger.info('version split', { weights: describe(weights), source, ...(file && { file, pollIntervalMs: this.options.pollIntervalMs }) });
  }

  /**
   * Checks the split in force against the model service in the background, once it answers, and polls the file.
   * A starting split that the model service refuses leaves no good split: unpinned requests get the latest
   * version, and onUsable(false) is called.
   */
  start(): void {
    if (this.refusedAtStart) this.setUsable(false);
    if (this.stopped || this.done) return;
    this.timer = setInterval(() => void this.tick(), this.options.pollIntervalMs);
    this.timer.unref();
    void this.tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }

  /** One round: read the file, confirm the split in force if need be, then check a new one that is due. */
  async tick(): Promise<void> {
    if (this.ticking || this.stopped) return;
    this.ticking = true;
    try {
      if (this.options.file) await this.readFile(this.options.file);
      if (!this.confirmed && !(await this.confirmInForce())) return;
      const candidate = this.candidate;
      if (candidate && Date.now() >= candidate.nextCheckAt) await this.checkCandidate(candidate);
    } finally {
      this.ticking = false;
      if (this.done && this.timer) clearInterval(this.timer);
    }
  }

  /** Nothing left to read or check: no file, and the split in force (from the variable) is confirmed. */
  private get done(): boolean {
    return !this.options.file && this.confirmed && !this.candidate;
  }

  private async readFile(file: string): Promise<void> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if (!this.unreadableLogged) {
        this.unreadableLogged = true;
        this.options.logger.warn('version split file unreadable: the split in force stays', { file, error: (error as Error).message, inForce: describe(this.live.weights) });
      }
      return;
    }
    this.unreadableLogged = false;
    if (text === this.lastText) return;
    this.lastText = text;
    const weights = this.parse(text);
    // The newest content replaces whatever was pending: a malformed one leaves nothing to load.
    this.candidate = weights && { weights, refused: false, waitingLogged: false, nextCheckAt: 0 };
  }

  /** The file's split, or undefined (logged and counted as refused) when it is not one. */
  private parse(text: string): VersionWeight[] | undefined {
    try {
      return parseVersionWeights(text.trim());
    } catch (error) {
      this.options.logger.error('version split refused: the file does not hold a split; the split in force stays', {
        file: this.options.file,
        content: text.length > 200 ? `${text.slice(0, 200)}...` : text,
        error: (error as Error).message,
        inForce: describe(this.live.weights),
      });
      this.options.metrics?.recordSplitRefused('malformed');
      return undefined;
    }
  }

  /** The split the gateway started with, checked once the model service answers. False: still undecided. */
  private async confirmInForce(): Promise<boolean> {
    const weights = this.live.weights;
    const verdict = await this.options.check(weights);
    if (this.stopped || this.live.weights !== weights) return false;
    const { logger } = this.options;
    switch (verdict.kind) {
      case 'served':
        this.confirmed = true;
        logger.info('version split confirmed by the model service', { weights: describe(weights) });
        return true;
      case 'unknown':
        // Until the model service answers, the starting split serves as configured (its calls fail the same way).
        return false;
      case 'refused':
        this.live.set([]);
        this.confirmed = true;
        logger.error('version split refused: the model service does not serve its versions; no good split is left, so unpinned requests get the latest version and the gateway reports NOT_SERVING until a good split is loaded', {
          weights: describe(weights),
          missing: verdict.missing,
          available: verdict.available,
          error: verdict.message,
        });
        this.options.metrics?.recordSplitRefused(verdict.reason);
        this.setUsable(false);
        // The same split is checked again later, unless the file brings another: its version may come up.
        this.candidate ??= { weights, refused: true, waitingLogged: false, nextCheckAt: Date.now() + this.recheckMs };
        return true;
    }
  }

  private async checkCandidate(candidate: Candidate): Promise<void> {
    if (sameVersionWeights(candidate.weights, this.live.weights)) {
      this.candidate = undefined;
      return;
    }
    const verdict = await this.options.check(candidate.weights);
    if (this.stopped || this.candidate !== candidate) return;
    const { logger } = this.options;
    switch (verdict.kind) {
      case 'served': {
        const previous = this.live.weights;
        this.live.set(candidate.weights);
        this.candidate = undefined;
        logger.info('version split applied', { weights: describe(candidate.weights), previous: describe(previous), ...(this.options.file && { file: this.options.file }) });
        this.setUsable(true);
        return;
      }
      case 'unknown':
        if (!candidate.waitingLogged) {
          candidate.waitingLogged = true;
          logger.warn('version split not applied yet: the model service did not answer the check; the split in force stays', {
            weights: describe(candidate.weights),
            inForce: describe(this.live.weights),
            error: verdict.message,
          });
        }
        candidate.nextCheckAt = Date.now() + this.options.pollIntervalMs;
        return;
      case 'refused':
        if (!candidate.refused) {
          candidate.refused = true;
          logger.error('version split refused: the model service does not serve its versions; the split in force stays', {
            weights: describe(candidate.weights),
            missing: verdict.missing,
            available: verdict.available,
            error: verdict.message,
            inForce: describe(this.live.weights),
          });
          this.options.metrics?.recordSplitRefused(verdict.reason);
        }
        candidate.nextCheckAt = Date.now() + this.recheckMs;
        return;
    }
  }

  private get recheckMs(): number {
    return this.options.recheckRefusedMs ?? REFUSED_RECHECK_MS;
  }

  private setUsable(usable: boolean): void {
    if (usable === this.usable) return;
    this.usable = usable;
    this.options.onUsable?.(usable);
  }
}

/** For logs: `1=95,2=5`, or `none (latest)`. */
function describe(weights: readonly VersionWeight[]): string {
  return weights.length > 0 ? formatVersionWeights(weights) : 'none (latest)';
}
