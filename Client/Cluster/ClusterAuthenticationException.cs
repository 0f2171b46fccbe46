namespace Analytics.Client.Cluster;

/// <summary>
/// The client and a gateway did not authenticate each other: the gateway's TLS certificate is not
/// one of the pinned thumbprints (or not valid), or the gateway refused the client's certificate.
/// </summary>
public sealed class ClusterAuthenticationException : Exception
{
    public ClusterAuthenticationException(string message)
        : base(message)
    {
    }

    public ClusterAuthenticationException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
