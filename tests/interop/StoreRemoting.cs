// The store over .NET Remoting (TcpChannel, binary formatter) instead of WCF: the same main cash logic
// (MainCash), the same terminals and the same evening, with STORE_TRANSPORT=remoting. The main cash is a
// MarshalByRefObject on tcp://…:8506/MainCash.rem; each terminal passes a MarshalByRefObject for the
// pushes, which the main cash calls (one-way) over its own connection to the terminals' channel on 8507.
using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;
using System.Runtime.Remoting;
using System.Runtime.Remoting.Channels;
using System.Runtime.Remoting.Channels.Tcp;
using System.Runtime.Remoting.Messaging;
using System.Runtime.Serialization.Formatters;
using System.Threading;

namespace Wirecap.Interop.Store
{
    public class RemoteMainCash : MarshalByRefObject
    {
        readonly MainCash cash = new MainCash();

        public List<Order> Register(string terminalId, string name, ITerminalEvents events) { return MainCash.Join(terminalId, name, events); }
        public bool LockOrder(Guid orderId, string terminalId) { return cash.LockOrder(orderId, terminalId); }
        public void UnlockOrder(Guid orderId, string terminalId) { cash.UnlockOrder(orderId, terminalId); }
        public long SyncOrder(Order order) { return cash.SyncOrder(order); }
        public override object InitializeLifetimeService() { return null; }  // lives as long as the process
    }

    public class RemoteTerminalEvents : MarshalByRefObject, ITerminalEvents
    {
        readonly TerminalEvents events;

        public RemoteTerminalEvents(TerminalEvents events) { this.events = events; }
        // One-way as in WCF; the proxy the main cash holds is typed by this class, so the attribute is here too.
        [OneWay] public void OrderLocked(Guid orderId, string terminalId) { events.OrderLocked(orderId, terminalId); }
        [OneWay] public void OrderUnlocked(Guid orderId, string terminalId) { events.OrderUnlocked(orderId, terminalId); }
        [OneWay] public void OrderChanged(Order order) { events.OrderChanged(order); }
        public override object InitializeLifetimeService() { return null; }
    }

    // IMainCash as Terminal uses it, over Remoting: Register hands over the terminal's push object.
    public class RemoteCashClient : IMainCash
    {
        readonly RemoteMainCash remote;
        readonly RemoteTerminalEvents events;

        public RemoteCashClient(string uri, TerminalEvents events)
        {
            remote = (RemoteMainCash)Activator.GetObject(typeof(RemoteMainCash), uri);
            this.events = new RemoteTerminalEvents(events);
        }

        public List<Order> Register(string terminalId, string name) { return remote.Register(terminalId, name, events); }
        public bool LockOrder(Guid orderId, string terminalId) { return remote.LockOrder(orderId, terminalId); }
        public void UnlockOrder(Guid orderId, string terminalId) { remote.UnlockOrder(orderId, terminalId); }
        public long SyncOrder(Order order) { return remote.SyncOrder(order); }
    }

    public static class RemotingStore
    {
        public const int TerminalsPort = 8507;
        public static readonly bool Enabled = Environment.GetEnvironmentVariable("STORE_TRANSPORT") == "remoting";

        // A channel on PORT that also accepts object references (the terminals' push objects) in calls.
        static void Channel(int port)
        {
            var server = new BinaryServerFormatterSinkProvider { TypeFilterLevel = TypeFilterLevel.Full };
            var props = new Hashtable { { "port", port }, { "bindTo", "127.0.0.1" }, { "machineName", "127.0.0.1" } };
            ChannelServices.RegisterChannel(new TcpChannel(props, new BinaryClientFormatterSinkProvider(), server), false);
        }

        public static void Serve(int port, string work)
        {
            Channel(port);
            RemotingConfiguration.RegisterWellKnownServiceType(typeof(RemoteMainCash), "MainCash.rem", WellKnownObjectMode.Singleton);
            Console.WriteLine("listening tcp://127.0.0.1:" + port + "/MainCash.rem");
            Console.Out.Flush();
            while (!File.Exists(Path.Combine(work, "stop"))) Thread.Sleep(20);
        }

        public static void Listen() { Channel(TerminalsPort); }
    }
}
