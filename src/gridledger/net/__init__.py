"""A local consortium network: one CometBFT validator, gridledger ABCI app and REST API per
organization, all on 127.0.0.1, run by one supervisor process.

- ``layout``: the network directory, ports and ``network.json``;
- ``init``: writing a network (``gridledger net init``);
- ``supervisor``: the process that starts, restarts and stops every node process;
- ``control``: what the CLI does to a running network (up, down, stop, start);
- ``status``: processes, heights and app-hash agreement (``gridledger net status``).
"""
