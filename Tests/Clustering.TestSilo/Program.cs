// Started by StandaloneSiloHandle with the parent's process id and the cluster's configuration.
await Orleans.TestingHost.StandaloneSiloHost.Main(args);
