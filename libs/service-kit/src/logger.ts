import { context, isSpanContextValid, trace } from '@opentelemetry/api';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

type Sink = (line: string) => void;

const stdoutSink: Sink = (line) => {
  process.stdout.write(line + '\n');
};

/**
 * Structured logs: one JSON object a line on stdout, as log collectors expect from a container, with `trace_id` and
 * `span_id` when written inside a traced call.
 */
export function createLogger(service: string, level: LogLevel, sink: Sink = stdoutSink): Logger {
  return new JsonLogger({ service }, LOG_LEVELS.indexOf(level), sink);
}

class JsonLogger implements Logger {
  constructor(
    private readonly base: LogFields,
    private readonly minLevel: number,
    private readonly sink: Sink,
  ) {}

  debug(message: string, fields?: LogFields): void {
    this.write(0, message, fields);
  }
  info(message: string, fields?: LogFields): void {
    this.write(1, message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.write(2, message, fields);
  }
  error(message: string, fields?: LogFields): void {
    this.write(3, message, fields);
  }

  child(fields: LogFields): Logger {
    return new JsonLogger({ ...this.base, ...fields }, this.minLevel, this.sink);
  }

  private write(level: number, message: string, fields: LogFields | undefined): void {
    if (level < this.minLevel) return;
    // The active span, when telemetry is on and the line is written while serving a traced call: the ids that
    // find this line from a trace, and the trace from this line.
    const span = trace.getSpanContext(context.active());
    const correlation = span && isSpanContextValid(span) ? { trace_id: span.traceId, span_id: span.spanId } : undefined;
    const record = { time: new Date().toISOString(), level: LOG_LEVELS[level], ...this.base, msg: message, ...correlation, ...fields };
    this.sink(JSON.stringify(record, errorReplacer));
  }
}

function errorReplacer(_key: string, value: unknown): unknown {
  return value instanceof Error ? { name: value.name, message: value.message, stack: value.stack } : value;
}
