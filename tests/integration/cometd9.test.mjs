// cometd@9 with cometd-nodejs-client@2 (npm, unmodified).
import { adapt } from 'cometd-nodejs-client';
import { CometD, AckExtension } from 'cometd';
import { cometdSuite } from './lib/cometd_suite.mjs';

adapt();
cometdSuite('cometd@9', { CometD, AckExtension });
