// The output side of running steps, shared by both runners: each step gets
// its header, its place in the status line and a sink of its own into
// build.log; a step's sink is ended (and all of it written) before the next
// one begins, so the log keeps step order and a failure's tail is complete.
import type { LogSink } from '../../output/build-log.js';
import type { Job, Step } from '../context.js';

export class StepLog {
  private sink: LogSink | null = null;

  constructor(private readonly job: Job) {}

  /** `step` begins: its header, the status line, and the sink for its output. */
  begin(step: Step): LogSink {
    if (step.header) this.job.reporter.header(step.header);
    this.job.reporter.startStep(step.name);
    this.job.stage = step.name;
    this.sink = this.job.log.sink();
    return this.sink;
  }

  /** Ends the current step's sink and waits until everything in it is in the log. */
  end(): Promise<void> {
    const sink = this.sink;
    this.sink = null;
    if (!sink || sink.writableFinished) return Promise.resolve();
    return new Promise((resolve, reject) => {
      sink.once('error', reject);
      sink.end(() => resolve());
    });
  }
}
