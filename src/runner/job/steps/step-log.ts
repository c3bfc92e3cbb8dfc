// The output side of running steps, shared by both runners: each step gets
// its header, its place in the status line and a sink of its own into
// build.log; a step's sink is ended (and all of it written) before the next
// one begins, so the log keeps step order and a failure's tail is complete.
import { finished } from 'node:stream/promises';
import type { LogSink } from '../../output/build-log.js';
import type { Job, Step } from '../context.js';

export class StepLog {
  private sink: LogSink | null = null;

  constructor(private readonly job: Job) {}

  /** `step` begins: its header, the status line, and the sink for its output. Throws the log's failure, if a write failed. */
  begin(step: Step): LogSink {
    this.job.log.throwIfFailed();
    if (step.header) this.job.reporter.header(step.header);
    this.job.reporter.startStep(step.name);
    this.job.stage = step.name;
    this.sink = this.job.log.sink();
    return this.sink;
  }

  /** Ends the current step's sink and waits until everything in it is in the log; rejects with the log's failure. */
  end(): Promise<void> {
    const sink = this.sink;
    this.sink = null;
    if (!sink || sink.writableFinished) return Promise.resolve();
    sink.end();
    return finished(sink); // also when the sink failed before its end (its 'error' is past)
  }
}
