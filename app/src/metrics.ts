/**
 * The chat server's Prometheus metrics (prom-client), served as text on GET /metrics to local scrapers
 * only (see http-router.ts). One Registry per server, since the tests run several in one process.
 *
 * Cost on the hot path: the counts the server keeps anyway (ServerState, RoomHub, the connection and
 * long-poll sets) are read when a scrape comes, so only the two latency histograms are touched as
 * messages flow, once per message or query, never per recipient. No label names a room, user or
 * connection, so the number of series is fixed.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DB_OPS, type DbOp } from './db.js';
import { LastMinute } from './last-minute.js';

/** Every metric name starts with this, Node's default process metrics included. */
export const METRICS_PREFIX = 'messenger_';

/** The live numbers a scrape reads. */
export interface MetricSources {
  connections(): number;
  pollWaiters(): number;
  joins(): number;
  messagesIn(): number;
  deliveries(): number;
  slowDrops(): number;
  /** Reads of a room's gap from the database, and copies of a message dropped (room-order.ts). */
  gapReads(): number;
  duplicates(): number;
  /** The Redis bus, when this instance has one. */
  bus?: {
    up(): boolean;
    published(): number;
    received(): number;
    publishFailures(): number;
    outages(): number;
  };
}

export interface ChatMetrics {
  readonly registry: Registry;
  /** A stored message was fanned out locally, `seconds` after its store commit. */
  observeMessage(fanOutSeconds: number): void;
  /** Seconds one query took, pool wait included. */
  observeDb(op: DbOp, seconds: number): void;
}

// Local fan-out is sub-millisecond when healthy; the top buckets catch a blocked event loop.
const FAN_OUT_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
// A local MariaDB answers in about a millisecond; seconds mean a saturated pool or a stalled disk.
const DB_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** Creates the registry of one server over its live counts. */
export function createMetrics(version: string, src: MetricSources): ChatMetrics {
  const registry = new Registry();
  const registers = [registry];
  const name = (n: string) => `${METRICS_PREFIX}${n}`;
  // Process CPU, memory, descriptors, GC, and the event-loop lag from monitorEventLoopDelay.
  collectDefaultMetrics({ register: registry, prefix: METRICS_PREFIX });

  new Gauge({ name: name('build_info'), help: 'Always 1; the version of the running chat server as a label.', labelNames: ['version'], registers }).set({ version }, 1);
  const gauge = (n: string, help: string, read: () => number) =>
    new Gauge({ name: name(n), help, registers, collect() { this.set(read()); } });
  // prom-client counters have no set(); reset + inc copies the running total kept by the server.
  const counter = (n: string, help: string, read: () => number) =>
    new Counter({ name: name(n), help, registers, collect() { this.reset(); this.inc(read()); } });

  gauge('connections', 'Open WebSocket connections.', src.connections);
  gauge('long_poll_waiters', 'HTTP long-poll requests held waiting for a message.', src.pollWaiters);
  counter('joins_total', 'Rooms joined over /ws.', src.joins);
  counter('messages_in_total', 'Messages stored and acked (WebSocket and HTTP).', src.messagesIn);
  const lastMinute = new LastMinute();
  gauge('messages_last_minute', 'Messages stored in the last 60 seconds.', () => lastMinute.total());
  counter('deliveries_total', 'Message frames handed to local WebSocket sockets, one per recipient.', src.deliveries);
  counter('slow_consumer_drops_total', 'Sockets closed because their send buffer passed the bound (backpressure).', src.slowDrops);
  counter('order_gap_reads_total', 'Reads of messages this instance did not hear (a gap in a room, or after the bus was away) from the database.', src.gapReads);
  counter('order_duplicates_total', 'Copies of a message dropped because it was delivered already.', src.duplicates);
  const bus = src.bus;
  if (bus) {
    gauge('bus_up', "1 while this instance is subscribed to Redis and can publish; 0 while it delivers only its own clients' messages.", () => (bus.up() ? 1 : 0));
    counter('bus_published_total', 'Messages published to the sibling instances.', bus.published);
    counter('bus_received_total', 'Messages heard from the sibling instances.', bus.received);
    counter('bus_publish_failures_total', 'Publishes that failed while Redis was away (the siblings read them from the database).', bus.publishFailures);
    counter('bus_outages_total', 'Times Redis was lost and came back.', bus.outages);
  }

  const fanOut = new Histogram({
    name: name('fanout_seconds'),
    help: 'Seconds from a message\'s store commit to its last local delivery.',
    buckets: FAN_OUT_BUCKETS,
    registers,
  });
  const db = new Histogram({
    name: name('db_query_seconds'),
    help: 'Seconds per database query (insert batch, history, last id), pool wait included.',
    labelNames: ['op'],
    buckets: DB_BUCKETS,
    registers,
  });
  // Every op's series from the start, so a scraper sees zero rather than nothing.
  for (const op of DB_OPS) db.zero({ op });
  return {
    registry,
    observeMessage: (seconds) => {
      fanOut.observe(seconds);
      lastMinute.add();
    },
    observeDb: (op, seconds) => db.observe({ op }, seconds),
  };
}
