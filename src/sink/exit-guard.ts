/**
 * Makes a stopped sink's process end even if the Event Hubs client left a timer behind.
 *
 * @azure/event-hubs 6.0.x starts a partition receiver's token-renewal timer (about an hour) when
 * the receiver finishes connecting, and its close() stops only a timer already started: a
 * subscription closed while a receiver is still connecting (a stop right after a partition changed
 * hands, which scale-outs make common) leaves that timer running, and the process alive with it.
 * Once the sink has stopped (written, checkpointed, given its claims up, closed the client), this
 * exits with the exit code already set, `graceMs` later, if anything still holds the process. The
 * timer is unref'd: a process with nothing left ends at once, as before.
 */
export function exitWhenStopped(graceMs = 10_000): void {
  setTimeout(() => process.exit(), graceMs).unref();
}
