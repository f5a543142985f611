import { BROKER_START_TIMEOUT_MS, BROKER_STOP_TIMEOUT_MS, startLocalBroker, type LocalBroker, type LocalBrokerOptions } from '@inference-mesh/launcher';

/** A broker for one mocha suite: started in `before`, disposed in `after`. */
export function useTestBroker(options: LocalBrokerOptions = {}): { readonly broker: LocalBroker } {
  let broker: LocalBroker | undefined;
  before(async function () {
    this.timeout(BROKER_START_TIMEOUT_MS + 10_000);
    broker = await startLocalBroker(options);
  });
  after(async function () {
    this.timeout(BROKER_STOP_TIMEOUT_MS + 10_000);
    await broker?.dispose();
  });
  return {
    get broker() {
      if (!broker) throw new Error('the broker is not running');
      return broker;
    },
  };
}

