// A .NET Remoting (TcpChannel, binary formatter) server and client, to capture real [MS-NRTP] frames.
// Usage: mono RemotingPeer.exe server PORT   |   mono RemotingPeer.exe client PORT CALLS
using System;
using System.Runtime.Remoting;
using System.Runtime.Remoting.Channels;
using System.Runtime.Remoting.Channels.Tcp;
using System.Threading;

public class OrderDesk : MarshalByRefObject
{
    public string OpenOrder(int table, string waiter)
    {
        return "order for table " + table + " by " + waiter;
    }
}

public static class RemotingPeer
{
    public static int Main(string[] args)
    {
        int port = int.Parse(args[1]);
        if (args[0] == "server")
        {
            var props = new System.Collections.Hashtable { { "port", port }, { "bindTo", "127.0.0.1" } };
            ChannelServices.RegisterChannel(new TcpChannel(props, null, null), false);
            RemotingConfiguration.RegisterWellKnownServiceType(typeof(OrderDesk), "OrderDesk.rem", WellKnownObjectMode.Singleton);
            Console.WriteLine("listening");
            Console.Out.Flush();
            Thread.Sleep(Timeout.Infinite);
            return 0;
        }
        int calls = int.Parse(args[2]);
        ChannelServices.RegisterChannel(new TcpChannel(), false);
        var desk = (OrderDesk)Activator.GetObject(typeof(OrderDesk), "tcp://127.0.0.1:" + port + "/OrderDesk.rem");
        for (int i = 1; i <= calls; i++)
            Console.WriteLine(desk.OpenOrder(i, "Иванов"));
        return 0;
    }
}
