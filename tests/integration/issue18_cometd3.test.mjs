// Issue 18 defect 0 with cometd@3.1.14 (cometd-nodejs-client@1.5): see lib/issue18.mjs.
import { createRequire } from 'node:module';
import { subscribeRaceSuite } from './lib/issue18.mjs';

const require = createRequire(import.meta.url);
require('cometd-nodejs-client1').adapt();
subscribeRaceSuite('cometd@3.1', require('cometd3').CometD);
