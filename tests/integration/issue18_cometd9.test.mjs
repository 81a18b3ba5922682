// Issue 18 defect 0 with cometd@9 (cometd-nodejs-client@2): see lib/issue18.mjs.
import { adapt } from 'cometd-nodejs-client';
import { CometD } from 'cometd';
import { subscribeRaceSuite } from './lib/issue18.mjs';

adapt();
subscribeRaceSuite("cometd@9", CometD);
