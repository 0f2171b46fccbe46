namespace Analytics.Client.Cli;

/// <summary>The exit codes of the <c>analytics</c> tool (see Client/README.md).</summary>
public static class ExitCodes
{
    /// <summary>Done; every event accepted.</summary>
    public const int Ok = 0;

    /// <summary>The server could not be reached, or answered an error.</summary>
    public const int Failed = 1;

    /// <summary>Bad arguments or unreadable input: nothing, or not everything, was attempted.</summary>
    public const int Usage = 2;

    /// <summary>The metric or source has never been seen.</summary>
    public const int NotFound = 3;

    /// <summary>Done, but the server rejected some events (send, replay).</summary>
    public const int Rejected = 4;

    /// <summary>Stopped by Ctrl+C (SIGINT) or SIGTERM, after printing the summary.</summary>
    public const int Interrupted = 130;
}
