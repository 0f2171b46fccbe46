using System.Net;
using System.Net.Sockets;

namespace Analytics.EndToEnd.Tests;

/// <summary>Ports for processes and listeners that tests start on 127.0.0.1.</summary>
public static class TestPorts
{
    private static readonly HashSet<int> Given = [];

    /// <summary>
    /// A port that was free a moment ago (the OS picks it, then it is released), and never one this
    /// process handed out before: tests run in parallel, and the OS may offer a released port again
    /// before the process it was meant for has bound it, so two silos would share one HTTP port and
    /// a test would talk to the other one. Another process could still take it in between; tests
    /// accept that small race rather than share fixed ports.
    /// </summary>
    public static int FreePort()
    {
        while (true)
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            lock (Given)
            {
                if (Given.Add(port))
                {
                    return port;
                }
            }
        }
    }
}
