// Preloaded (node --require) into each emulator that Tests/Aws.Tests starts. The test process holds
// the emulator's stdin open; when that process ends, even by a kill that runs no cleanup, the
// operating system closes the pipe and the emulator exits here instead of outliving its tests.
'use strict';
const exit = () => process.exit(0);
process.stdin.on('end', exit);
process.stdin.on('close', exit);
process.stdin.on('error', exit);
process.stdin.resume();
