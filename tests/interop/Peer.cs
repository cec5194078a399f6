// Entry point: `peer.exe server|client SCENARIO PORT WORKDIR`. A scenario names which service the
// server hosts and which conversation the client holds. In WORKDIR the client writes truth.jsonl, the
// server sent_faults.tsv; the server stops when a file named "stop" appears there. The "store" scenario
// (StoreEvening.cs) is a main cash (server) and two terminals (client) with truth of their own.
using System;
using System.IO;
using System.ServiceModel;
using System.Threading;
using System.Xml;

namespace Wirecap.Interop
{
    public static class Peer
    {
        // NetTcpBinding without security: binary message encoding in a net.tcp session.
        public static NetTcpBinding Tcp(TransferMode mode)
        {
            var b = new NetTcpBinding(SecurityMode.None)
            {
                TransferMode = mode, MaxReceivedMessageSize = 64 << 20, MaxBufferSize = 64 << 20,
                ReaderQuotas = XmlDictionaryReaderQuotas.Max,
                SendTimeout = TimeSpan.FromSeconds(20), ReceiveTimeout = TimeSpan.FromSeconds(60),
            };
            return b;
        }

        static string Path(string scenario)
        {
            switch (scenario)
            {
                case "streamed": return "BlobStore";
                case "callback": return "OrderWatch";
                default: return "OrderSync";
            }
        }

        static ServiceHost Host(string scenario, string uri, string faultLog)
        {
            var host = Service(scenario, uri);
            foreach (var endpoint in host.Description.Endpoints) endpoint.Behaviors.Add(new SentFaults(faultLog));
            return host;
        }

        static ServiceHost Service(string scenario, string uri)
        {
            switch (scenario)
            {
                case "buffered":
                case "concurrent":
                {
                    var h = new ServiceHost(typeof(OrderSyncService));
                    h.AddServiceEndpoint(typeof(IOrderSync), Tcp(TransferMode.Buffered), uri);
                    return h;
                }
                case "streamed":
                {
                    var h = new ServiceHost(typeof(BlobStoreService));
                    h.AddServiceEndpoint(typeof(IBlobStore), Tcp(TransferMode.Streamed), uri);
                    return h;
                }
                case "callback":
                {
                    var h = new ServiceHost(typeof(OrderWatchService));
                    h.AddServiceEndpoint(typeof(IOrderWatch), Tcp(TransferMode.Buffered), uri);
                    return h;
                }
            }
            throw new ArgumentException("unknown scenario " + scenario);
        }

        static void RunClient(string scenario, string uri)
        {
            switch (scenario)
            {
                case "buffered": Clients.Buffered(uri); return;
                case "streamed": Clients.Streamed(uri); return;
                case "callback": Clients.Callback(uri); return;
                case "concurrent": Clients.Concurrent(uri); return;
            }
            throw new ArgumentException("unknown scenario " + scenario);
        }

        // Hosts until a file named "stop" appears in WORKDIR.
        public static void Serve(ServiceHost host, string work)
        {
            host.Open();
            Console.WriteLine("listening " + host.Description.Endpoints[0].Address.Uri);
            while (!File.Exists(System.IO.Path.Combine(work, "stop"))) Thread.Sleep(20);
            host.Close(TimeSpan.FromSeconds(5));
        }

        public static int Main(string[] args)
        {
            if (args.Length != 4)
            {
                Console.Error.WriteLine("usage: peer.exe server|client SCENARIO PORT WORKDIR");
                return 2;
            }
            string role = args[0], scenario = args[1], work = args[3];
            if (scenario == "store") return Store.Evening.Run(role, args[2], work);
            var uri = "net.tcp://127.0.0.1:" + args[2] + "/" + Path(scenario);
            var faultLog = System.IO.Path.Combine(work, "sent_faults.tsv");
            if (role == "server")
            {
                Serve(Host(scenario, uri, faultLog), work);
                return 0;
            }
            if (role == "warm")
            {
                Clients.WarmUp(uri);
                return 0;
            }
            Truth.FaultLog = faultLog;
            Truth.Open(System.IO.Path.Combine(work, "truth.jsonl"), scenario);
            try
            {
                RunClient(scenario, uri);
            }
            finally
            {
                Truth.Close();
            }
            return 0;
        }
    }
}
