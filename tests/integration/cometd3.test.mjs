// cometd@3.1.14 with cometd-nodejs-client@1.5 (npm, unmodified; installed under aliases).
import { createRequire } from 'node:module';
import { cometdSuite } from './lib/cometd_suite.mjs';

const require = createRequire(import.meta.url);
require('cometd-nodejs-client1').adapt();
const lib = require('cometd3');
require('cometd3/AckExtension');
cometdSuite('cometd@3.1', { CometD: lib.CometD, AckExtension: lib.AckExtension });
