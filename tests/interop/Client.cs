// The "client" role: one method per scenario; every message goes through Conn so it lands in the truth file.
using System;
using System.Collections.Generic;
using System.IO;
using System.ServiceModel;
using System.ServiceModel.Channels;
using System.Threading;
using System.Xml;

namespace Wirecap.Interop
{
    // One client connection (one net.tcp session) and its call counter.
    public class Conn
    {
        public readonly int Index;
        int calls = -1;

        public Conn(int index, int firstCall = 0)
        {
            Index = index;
            calls = firstCall - 1;
        }

        public int NextCall() { return Interlocked.Increment(ref calls); }

        public T Call<T>(string op, JObj args, Func<T> invoke, Func<T, object> result)
        {
            Truth.Expect(Index, NextCall(), false, args);
            T r = invoke();
            Truth.Reply(new JObj().Add(op + "Result", result(r)));
            return r;
        }

        public void Call(JObj args, Action invoke)
        {
            Truth.Expect(Index, NextCall(), false, args);
            invoke();
            Truth.Reply(new JObj());
        }

        // Mono runs no IClientMessageInspector for one-way operations, so the MessageID is chosen here
        // (deterministic, from conn and call), set through OperationContextScope and written by us.
        public void OneWay(object channel, string contract, string op, JObj args, Action invoke)
        {
            int call = NextCall();
            var id = new UniqueId(Data.Id(1000000 + 1000 * Index + call));
            using (new OperationContextScope((IContextChannel)channel))
            {
                OperationContext.Current.OutgoingMessageHeaders.MessageId = id;
                Truth.SentOneWay(Index, call, "http://tempuri.org/" + contract + "/" + op, id, args);
                invoke();
            }
        }

        // A call that must fail with FaultException<OrderFault>. Mono runs no client inspector on a fault
        // reply, so its addressing headers are taken from the server's record of what it sent.
        public void Fault(JObj args, Action invoke)
        {
            Truth.Expect(Index, NextCall(), false, args);
            try
            {
                invoke();
            }
            catch (FaultException<OrderFault> f)
            {
                Truth.Fault(f, new JObj().Add("OrderFault", J.Fault(f.Detail)));
                return;
            }
            throw new InvalidOperationException("expected a SOAP fault");
        }
    }

    public static class Clients
    {
        public static TChannel Open<TChannel>(ChannelFactory<TChannel> factory)
        {
            factory.Endpoint.Behaviors.Add(new TruthInspector());
            var channel = factory.CreateChannel();
            ((IClientChannel)channel).Open();
            return channel;
        }

        public static void Close(object channel, ChannelFactory factory)
        {
            ((IClientChannel)channel).Close();
            factory.Close();
        }

        static JObj Args() { return new JObj(); }

        // Order sync session: many calls of every shape, one fault, one-way calls, one >400 KB request.
        public static void Buffered(string uri)
        {
            var factory = new ChannelFactory<IOrderSync>(Peer.Tcp(TransferMode.Buffered), uri);
            var sync = Open(factory);
            var c = new Conn(0);
            c.Call("Hello", Args().Add("name", "Иванов Пётр"), () => sync.Hello("Иванов Пётр"), r => r);
            for (int n = 1; n <= 10; n++)
            {
                var order = Data.Order(n, n + 1);
                c.Call("SaveOrder", Args().Add("order", J.Order(order)), () => sync.SaveOrder(order), J.Result);
            }
            c.OneWay(sync, "IOrderSync", "Ping", Args().Add("terminal", "T1").Add("seq", 1L), () => sync.Ping("T1", 1));
            c.Call("GetOrder", Args().Add("id", J.Guid(Data.Id(3))), () => sync.GetOrder(Data.Id(3)), J.Order);
            c.Call("GetOrder", Args().Add("id", J.Guid(Data.Id(999))), () => sync.GetOrder(Data.Id(999)), J.Order);
            var since = Data.Local(-60);
            c.Call("GetStats", Args().Add("terminal", "Касса 1").Add("since", J.Time(since)),
                () => sync.GetStats("Касса 1", since), J.Stats);
            var bytes = new byte[256];
            for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)i;
            c.Call("Echo", Args().Add("data", J.Bytes(bytes)).Add("reverse", true), () => sync.Echo(bytes, true), J.Bytes);
            c.Call("Echo", Args().Add("data", J.Bytes(new byte[0])).Add("reverse", false),
                () => sync.Echo(new byte[0], false), J.Bytes);
            var sums = new[] { 123.450m, 0.10m, -5m, 0m, 7922816251426433759354395033.5m, -0.0000000001m };
            c.Call("Total", Args().Add("sums", J.List(sums, d => J.Dec(d))),
                () => sync.Total(sums), J.Dec);
            var at = new DateTime(2026, 11, 29, 9, 45, 0, DateTimeKind.Unspecified);
            c.OneWay(sync, "IOrderSync", "NotifyChanged", Args().Add("orderId", J.Guid(Data.Id(2))).Add("revision", 7).Add("at", J.Time(at)),
                () => sync.NotifyChanged(Data.Id(2), 7, at));
            c.Fault(Args().Add("id", J.Guid(Data.Id(404))).Add("reason", "двойное удаление"),
                () => sync.DeleteOrder(Data.Id(404), "двойное удаление"));
            c.Call(Args().Add("id", J.Guid(Data.Id(4))).Add("reason", "отмена"), () => sync.DeleteOrder(Data.Id(4), "отмена"));
            c.OneWay(sync, "IOrderSync", "Ping", Args().Add("terminal", "T1").Add("seq", 2L), () => sync.Ping("T1", 2));
            var big = Data.Order(50, 4000);
            c.Call("SaveOrder", Args().Add("order", J.Order(big)), () => sync.SaveOrder(big), J.Result);
            c.Call("Hello", Args().Add("name", ""), () => sync.Hello(""), r => r);
            c.OneWay(sync, "IOrderSync", "Ping", Args().Add("terminal", "T1").Add("seq", long.MaxValue), () => sync.Ping("T1", long.MaxValue));
            Close(sync, factory);
        }

        // Streamed transfer: Stream parameters and untyped Message bodies. Mono's streamed net.tcp is a
        // request channel that uses one TCP connection per request (singleton-unsized mode) and fails a
        // second request on the same channel ("Preamble Ack Record is expected, got FFFFFFFF"), so each
        // call gets a channel of its own; the truth still numbers them as conn 0, calls 0..3.
        public static void Streamed(string uri)
        {
            var factory = new ChannelFactory<IBlobStore>(Peer.Tcp(TransferMode.Streamed), uri);
            factory.Endpoint.Behaviors.Add(new TruthInspector());
            var c = new Conn(0);
            var upload = Data.Blob("upload", 20000);
            Session(factory, store => c.Call("Upload", Args().Add("data", J.Bytes(upload)),
                () => store.Upload(new MemoryStream(upload)), n => n));
            var text = System.Text.Encoding.UTF8.GetBytes("Борщ;123.450\nЧай;0.10\n");
            Session(factory, store => c.Call("Upload", Args().Add("data", J.Bytes(text)),
                () => store.Upload(new MemoryStream(text)), n => n));
            Session(factory, store => c.Call("Download", Args().Add("name", "menu.bin"),
                () => ReadAll(store.Download("menu.bin")), J.Bytes));
            var table = new Table { Num = 7, Name = "Веранда" };
            Session(factory, store =>
            {
                Truth.Expect(c.Index, c.NextCall(), false, J.Table(table));
                var reply = store.Raw(Message.CreateMessage(MessageVersion.Soap12WSAddressing10, "urn:wirecap/Raw", table));
                Truth.Reply(reply.GetBody<string>());
            });
            factory.Close();
        }

        static void Session(ChannelFactory<IBlobStore> factory, Action<IBlobStore> call)
        {
            var store = factory.CreateChannel();
            ((IClientChannel)store).Open();
            call(store);
            ((IClientChannel)store).Close();
        }

        static byte[] ReadAll(Stream stream)
        {
            var copy = new MemoryStream();
            stream.CopyTo(copy);
            stream.Close();
            return copy.ToArray();
        }

        // Duplex session whose service calls the client back (one-way and two-way) mid-operation.
        public static void Callback(string uri)
        {
            var events = new OrderEvents();
            var factory = new DuplexChannelFactory<IOrderWatch>(new InstanceContext(events),
                Peer.Tcp(TransferMode.Buffered), uri);
            var watch = Open(factory);
            events.Conn = new Conn(0);
            var c = events.Conn;
            c.Call("Subscribe", Args().Add("terminal", "Терминал 2").Add("count", 3),
                () => watch.Subscribe("Терминал 2", 3), n => n);
            c.OneWay(watch, "IOrderWatch", "Touch", Args().Add("orderId", J.Guid(Data.Id(7))), () => watch.Touch(Data.Id(7)));
            if (!events.Touched.WaitOne(TimeSpan.FromSeconds(10)))
                throw new TimeoutException("no callback after Touch");
            CloseDuplex((IClientChannel)watch, factory);
        }

        // Mono's DuplexClientRuntimeChannel.OnClose sends End and closes the socket, then never returns
        // (it waits on its callback receive loop): bound it and abort what is left.
        public static void CloseDuplex(IClientChannel channel, ChannelFactory factory)
        {
            try
            {
                channel.Close(TimeSpan.FromMilliseconds(300));
            }
            catch (TimeoutException)
            {
                channel.Abort();
            }
            factory.Abort();
        }

        // Three terminals (a factory and session each) that greet in conn order, so their TCP connections
        // start in conn order, then talk at once. The sequential greeting is a workaround: Mono's
        // SessionInstanceContextProvider registers sessions in an unlocked Dictionary and throws when
        // several sessions send their first message at the same moment.
        // Mono's dispatcher fills an unlocked Dictionary of serializers on each operation's first use, so
        // sessions that first call an operation at the same moment can crash the server. One uncaptured
        // session calls every operation the concurrent clients use before the capture starts; it writes
        // no truth and touches no order the scenario uses, so the captured conversation is unchanged.
        public static void WarmUp(string uri)
        {
            var factory = new ChannelFactory<IOrderSync>(Peer.Tcp(TransferMode.Buffered), uri);
            var sync = factory.CreateChannel();  // no TruthInspector: nothing of this goes to the truth
            ((IClientChannel)sync).Open();
            sync.Hello("warm-up");
            sync.SaveOrder(Data.Order(199, 1));
            sync.Ping("warm-up", 0);
            sync.GetOrder(Data.Id(199));
            Close(sync, factory);
        }

        public static void Concurrent(string uri)
        {
            const int clients = 3;
            var factories = new List<ChannelFactory<IOrderSync>>();
            var channels = new List<IOrderSync>();
            for (int i = 0; i < clients; i++)
            {
                factories.Add(new ChannelFactory<IOrderSync>(Peer.Tcp(TransferMode.Buffered), uri));
                channels.Add(Open(factories[i]));
                Greet(new Conn(i), channels[i]);
            }
            var start = new Barrier(clients);
            var errors = new List<Exception>();
            var threads = new List<Thread>();
            for (int i = 0; i < clients; i++)
            {
                int index = i;
                var t = new Thread(() =>
                {
                    try
                    {
                        start.SignalAndWait();
                        Chatter(new Conn(index, 1), channels[index]);
                        Close(channels[index], factories[index]);
                    }
                    catch (Exception e)
                    {
                        lock (errors) errors.Add(e);
                    }
                });
                t.Start();
                threads.Add(t);
            }
            foreach (var t in threads) t.Join();
            if (errors.Count > 0) throw new AggregateException(errors);
        }

        static string Terminal(Conn c) { return "Касса " + c.Index; }

        static void Greet(Conn c, IOrderSync sync)
        {
            c.Call("Hello", Args().Add("name", Terminal(c)), () => sync.Hello(Terminal(c)), r => r);
        }

        // Mono's TcpBinaryFrameManager hands each reply's dictionary session to the listener's one shared
        // BinaryMessageEncoder without a lock, so two replies encoded at the same moment swap sessions and
        // the client reads "XmlDictionaryString ID n not defined" (or the server throws). The terminals
        // therefore never wait on two replies at once; their sessions and one-way pings still interleave.
        static readonly object ReplyGate = new object();

        static void Chatter(Conn c, IOrderSync sync)
        {
            var name = Terminal(c);
            for (int k = 0; k < 3; k++)
            {
                var order = Data.Order(200 + 10 * c.Index + k, 3);
                lock (ReplyGate) c.Call("SaveOrder", Args().Add("order", J.Order(order)), () => sync.SaveOrder(order), J.Result);
                c.OneWay(sync, "IOrderSync", "Ping", Args().Add("terminal", name).Add("seq", (long)k), () => sync.Ping(name, k));
            }
            var id = Data.Id(200 + 10 * c.Index);
            lock (ReplyGate) c.Call("GetOrder", Args().Add("id", J.Guid(id)), () => sync.GetOrder(id), J.Order);
        }
    }

    // The client's side of IOrderWatch: writes each callback it receives (and its answers) to the truth.
    [CallbackBehavior(ConcurrencyMode = ConcurrencyMode.Multiple, UseSynchronizationContext = false)]
    public class OrderEvents : IOrderEvents
    {
        public Conn Conn;
        public readonly ManualResetEvent Touched = new ManualResetEvent(false);

        public void OrderChanged(Guid orderId, int revision, string status)
        {
            Truth.Callback(Conn.Index, Conn.NextCall(), "callback", OperationContext.Current.IncomingMessageHeaders, true,
                new JObj().Add("orderId", J.Guid(orderId)).Add("revision", revision).Add("status", status));
            if (revision == 99) Touched.Set();
        }

        public string Confirm(int seq)
        {
            var headers = OperationContext.Current.IncomingMessageHeaders;
            int call = Conn.NextCall();
            Truth.Callback(Conn.Index, call, "callback", headers, false, new JObj().Add("seq", seq));
            var answer = "ok " + seq;
            Truth.CallbackReply(Conn.Index, call, headers, new JObj().Add("ConfirmResult", answer));
            return answer;
        }
    }
}
