// A terminal of the store: one duplex session with the main cash (its copy of every order it was sent)
// and one keep-alive HTTP connection to the server link, where it posts UserEvents like iikoFront.
using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Net;
using System.ServiceModel;
using System.Text;
using System.Threading;
using System.Xml;

namespace Wirecap.Interop.Store
{
    // What the main cash pushed to this terminal: the orders it holds and who locks which.
    [CallbackBehavior(ConcurrencyMode = ConcurrencyMode.Multiple, UseSynchronizationContext = false)]
    public class TerminalEvents : ITerminalEvents
    {
        public readonly Dictionary<Guid, Order> Orders = new Dictionary<Guid, Order>();
        public readonly Dictionary<Guid, string> Locks = new Dictionary<Guid, string>();

        public void OrderLocked(Guid orderId, string terminalId) { Update(() => Locks[orderId] = terminalId); }

        public void OrderUnlocked(Guid orderId, string terminalId) { Update(() => Locks.Remove(orderId)); }

        public void OrderChanged(Order order) { Update(() => Orders[order.Id] = order); }

        void Update(Action change)
        {
            lock (this)
            {
                change();
                Monitor.PulseAll(this);
            }
        }

        // Blocks until the main cash's pushes make `done` true (they arrive on the session's own thread).
        public void Await(Func<bool> done, string what)
        {
            lock (this)
            {
                while (!done())
                    if (!Monitor.Wait(this, TimeSpan.FromSeconds(10))) throw new TimeoutException("no push: " + what);
            }
        }
    }

    public class Terminal
    {
        public readonly string Name, Id;
        public readonly TerminalEvents Events = new TerminalEvents();
        public readonly ServerLink Link;
        readonly DuplexChannelFactory<IMainCash> factory;
        readonly IMainCash cash;

        public Terminal(string name, string id, string login, int number, string mainCash, string serverLink)
        {
            Name = name;
            Id = id;
            Link = new ServerLink(serverLink, login, id, number);
            if (mainCash.StartsWith("tcp://"))  // .NET Remoting (StoreRemoting.cs)
            {
                cash = new RemoteCashClient(mainCash, Events);
            }
            else
            {
                factory = new DuplexChannelFactory<IMainCash>(new InstanceContext(Events), Peer.Tcp(TransferMode.Buffered), mainCash);
                cash = factory.CreateChannel();
                ((IClientChannel)cash).Open();
            }
            foreach (var o in cash.Register(id, name)) Events.Orders[o.Id] = o;
        }

        public void Lock(Order o)
        {
            if (!cash.LockOrder(o.Id, Id)) throw new InvalidOperationException(Name + " could not lock order " + o.Number);
        }

        public void Unlock(Order o) { cash.UnlockOrder(o.Id, Id); }

        // Sends the whole order at the next revision; the main cash answers with the revision it now holds.
        public void Sync(Order o)
        {
            o.SyncRevision++;
            o.LastChangedTerminalId = Id;
            long held = cash.SyncOrder(o);
            if (held != o.SyncRevision) throw new InvalidOperationException("main cash holds revision " + held);
            lock (Events) Events.Orders[o.Id] = o;
        }

        public void Close()
        {
            if (factory != null) Clients.CloseDuplex((IClientChannel)cash, factory);
        }
    }

    // iikoRMS-style calls: POST /resto/services/<service>?methodName=<method>, gzip XML <args> both ways,
    // X-Resto-* headers, one keep-alive connection per terminal (its own connection group).
    public class ServerLink
    {
        const string PasswordHash = "2c9341ca4cf3d87b9e4eb905d6a3ec45dd7b3c2e";  // fake; wirecap must redact it
        readonly string baseUri, login, terminalId;
        int calls;  // correlation ids: deterministic, distinct per terminal (number) and call

        public ServerLink(string baseUri, string login, string terminalId, int number)
        {
            this.baseUri = baseUri;
            this.login = login;
            this.terminalId = terminalId;
            calls = 1000 * number;
        }

        public void Call(string service, string method, Action<XmlWriter> args)
        {
            var request = (HttpWebRequest)WebRequest.Create(baseUri + "/resto/services/" + service + "?methodName=" + method);
            request.Method = "POST";
            request.KeepAlive = true;
            request.ConnectionGroupName = terminalId;
            request.ContentType = "text/xml; charset=UTF-8";
            request.AutomaticDecompression = DecompressionMethods.GZip;  // sends Accept-Encoding: gzip
            request.Headers["X-Resto-LoginName"] = login;
            request.Headers["X-Resto-PasswordHash"] = PasswordHash;
            request.Headers["X-Resto-TerminalId"] = terminalId;
            request.Headers["X-Resto-CorrelationId"] = J.Guid(Data.Id(3000000 + ++calls)).ToString();
            request.Headers["Content-Encoding"] = "gzip";
            var body = Gzip(Args(args));
            request.ContentLength = body.Length;
            using (var stream = request.GetRequestStream()) stream.Write(body, 0, body.Length);
            using (var response = (HttpWebResponse)request.GetResponse())
            using (var reader = new StreamReader(response.GetResponseStream(), Encoding.UTF8))
            {
                var result = new XmlDocument();
                result.LoadXml(reader.ReadToEnd());
                if (result.SelectSingleNode("/result/success").InnerText != "true")
                    throw new InvalidOperationException(method + " failed: " + result.OuterXml);
            }
        }

        static byte[] Args(Action<XmlWriter> args)
        {
            var buffer = new MemoryStream();
            using (var xml = XmlWriter.Create(buffer, new XmlWriterSettings { Encoding = new UTF8Encoding(false) }))
            {
                xml.WriteStartElement("args");
                xml.WriteElementString("client-type", "FRONT");
                args(xml);
                xml.WriteEndElement();
            }
            return buffer.ToArray();
        }

        static byte[] Gzip(byte[] data)
        {
            var buffer = new MemoryStream();
            using (var gzip = new GZipStream(buffer, CompressionMode.Compress)) gzip.Write(data, 0, data.Length);
            return buffer.ToArray();
        }
    }
}
