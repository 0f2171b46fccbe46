using Microsoft.Extensions.Options;

namespace Analytics.Silo.Hosting;

/// <summary>The contract's configuration keys that belong to the HTTP side and the embedded mode.</summary>
public sealed class HttpOptions
{
    public const string Section = "Http";

    /// <summary>Port of the HTTP API and dashboards.</summary>
    public int Port { get; set; } = 5080;

    /// <summary>Interface to listen on; 0.0.0.0 in containers, 127.0.0.1 to keep it local.</summary>
    public string Address { get; set; } = "0.0.0.0";

    /// <summary>Largest accepted request body; larger bodies get 413.</summary>
    public long MaxBodyBytes { get; set; } = 5 * 1024 * 1024;

    /// <summary>The environment variable that makes .NET complete socket operations on the I/O thread, read once at process start.</summary>
    public const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>
    /// Run metric and source queries on the socket's I/O thread, ahead of the thread pool's queue
    /// (Kestrel's inline scheduling; everything else still goes to the pool). It needs
    /// <see cref="InlineCompletionsVariable"/>=1 in the process's environment. See IoThreadOffload.
    /// </summary>
    public bool InlineQueries { get; set; }
}

public sealed class EmbeddedOptions
{
    public const string Section = "Embedded";

    /// <summary>Folder of the local log and the grain state.</summary>
    public string DataPath { get; set; } = "data";

    /// <summary>Partitions of the local log (queues read in parallel).</summary>
    public int Partitions { get; set; } = 8;
}

internal sealed class HttpOptionsValidator : IValidateOptions<HttpOptions>
{
    public ValidateOptionsResult Validate(string? name, HttpOptions options) =>
        options.Port is < 0 or > 65535 ? ValidateOptionsResult.Fail($"Http:Port must be between 0 and 65535, not {options.Port}.")
        : options.MaxBodyBytes < 1024 ? ValidateOptionsResult.Fail($"Http:MaxBodyBytes must be at least 1024, not {options.MaxBodyBytes}.")
        : string.IsNullOrWhiteSpace(options.Address) ? ValidateOptionsResult.Fail("Http:Address must not be empty.")
        : options.InlineQueries && Environment.GetEnvironmentVariable(HttpOptions.InlineCompletionsVariable) != "1"
            ? ValidateOptionsResult.Fail($"Http:InlineQueries needs the environment variable {HttpOptions.InlineCompletionsVariable}=1, set before the silo starts: without it socket completions still wait in the thread pool's queue.")
        : ValidateOptionsResult.Success;
}
