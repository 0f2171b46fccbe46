using System.Net;
using System.Net.Sockets;

namespace Analytics.Client.Tests;

/// <summary>Ports for the silos and listeners that tests start on 127.0.0.1.</summary>
public static class TestPorts
{
    /// <summary>
    /// A port that was free a moment ago (the OS picks it, then it is released). Another process
    /// could take it in between; tests accept that small race rather than share fixed ports.
    /// </summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
