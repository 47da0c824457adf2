#!/usr/bin/env -S node --max-semi-space-size=2 --disable-warning=DEP0123
// A small young generation keeps the RSS of long streams low (README, Performance). grpc-js names an IP endpoint as
// the TLS server name, which Node answers with deprecation DEP0123 on every connection to https://<ip>:2379 (kubeadm's
// etcd): a warning operators can do nothing about. The image passes the same flags.
//
// The entry point: SIGTERM/SIGINT are held from here on, before the rest of the CLI loads (early-signal.ts); then
// cli-main.ts runs the command and sets the exit code.
import { holdEarlySignals } from './early-signal.js';

holdEarlySignals();
await import('./cli-main.js');
