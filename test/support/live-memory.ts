// What the test process still holds after a full collection (JS heap plus Buffers): for gateways that run in the test's
// own process, where RSS and the heap between collections mostly show garbage in flight.
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';

v8.setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

export function liveMemory(): number {
  collect();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}
