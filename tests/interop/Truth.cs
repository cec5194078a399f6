// Ground truth: one JSON line per message a peer sent or received, built field by field from the
// .NET objects (never from our decoder), plus the WS-Addressing headers seen by message inspectors.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.ServiceModel;
using System.ServiceModel.Channels;
using System.ServiceModel.Description;
using System.ServiceModel.Dispatcher;
using System.Text;
using System.Xml;

namespace Wirecap.Interop
{
    // An ordered JSON object; values are null, bool, int/long/ulong, string, JObj or IList<object>.
    public class JObj : List<KeyValuePair<string, object>>
    {
        public JObj Add(string key, object value) { base.Add(new KeyValuePair<string, object>(key, value)); return this; }
    }

    // A JSON number whose text is already formatted (doubles via "R").
    public struct JNum
    {
        public readonly string Text;
        public JNum(string text) { Text = text; }
    }

    // Value formats of the ground truth, documented in captures/README.md.
    public static class J
    {
        static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
        public static object Guid(Guid g) { return g.ToString("D"); }
        public static object Time(DateTime t) { return t.ToString("o", Inv); }
        public static object Time(DateTime? t) { return t.HasValue ? Time(t.Value) : null; }
        public static object Dec(decimal d) { return d.ToString(Inv); }
        public static object Dbl(double d) { return new JNum(d.ToString("R", Inv)); }
        public static object Flt(float f) { return new JNum(f.ToString("R", Inv)); }
        public static object Span(TimeSpan s) { return XmlConvert.ToString(s); }
        public static object Bytes(byte[] b) { return b == null ? null : Convert.ToBase64String(b); }
        public static object List<T>(IEnumerable<T> items, Func<T, object> each)
        {
            if (items == null) return null;
            var list = new List<object>();
            foreach (var i in items) list.Add(each(i));
            return list;
        }

        public static JObj Table(Table t)
        {
            return t == null ? null : new JObj().Add("Num", t.Num).Add("Name", t.Name);
        }

        public static object Item(OrderItem i)
        {
            if (i == null) return null;
            return new JObj().Add("Id", Guid(i.Id)).Add("Product", i.Product).Add("Amount", Dec(i.Amount))
                .Add("Price", Dec(i.Price)).Add("Deleted", i.Deleted).Add("PrintTime", Time(i.PrintTime));
        }

        public static object Order(Order o)
        {
            if (o == null) return null;
            return new JObj().Add("Id", Guid(o.Id)).Add("Number", o.Number).Add("Status", o.Status)
                .Add("OpenTime", Time(o.OpenTime)).Add("LocalChangeTime", Time(o.LocalChangeTime))
                .Add("Waiter", o.Waiter).Add("Guests", o.Guests).Add("Sum", Dec(o.Sum))
                .Add("DiscountSum", Dec(o.DiscountSum)).Add("Revision", o.Revision).Add("Weight", Dbl(o.Weight))
                .Add("Ratio", Flt(o.Ratio)).Add("CookingTime", Span(o.CookingTime))
                .Add("Signature", Bytes(o.Signature)).Add("Comment", o.Comment)
                .Add("Items", List(o.Items, Item)).Add("Tables", List(o.Tables, Table));
        }

        public static object Fault(OrderFault f)
        {
            return f == null ? null : new JObj().Add("OrderId", Guid(f.OrderId)).Add("Reason", f.Reason);
        }

        public static object Result(SaveResult r)
        {
            if (r == null) return null;
            return new JObj().Add("OrderId", Guid(r.OrderId)).Add("Revision", r.Revision)
                .Add("SavedAt", Time(r.SavedAt)).Add("ItemCount", r.ItemCount);
        }

        public static object Stats(TerminalStats s)
        {
            if (s == null) return null;
            return new JObj().Add("AverageCheck", Dbl(s.AverageCheck)).Add("Load", Flt(s.Load))
                .Add("TotalTicks", s.TotalTicks).Add("Uptime", Span(s.Uptime)).Add("Counter", s.Counter)
                .Add("Shift", (int)s.Shift).Add("Flags", (int)s.Flags).Add("Delta", (int)s.Delta)
                .Add("Endpoint", s.Endpoint == null ? null : s.Endpoint.ToString())
                .Add("OpenNumbers", List(s.OpenNumbers, n => (object)n)).Add("Tags", List(s.Tags, t => (object)t));
        }

        public static string Write(object value)
        {
            var sb = new StringBuilder();
            Write(sb, value);
            return sb.ToString();
        }

        static void Write(StringBuilder sb, object v)
        {
            if (v == null) { sb.Append("null"); return; }
            if (v is bool) { sb.Append((bool)v ? "true" : "false"); return; }
            if (v is string) { Str(sb, (string)v); return; }
            if (v is JNum) { sb.Append(((JNum)v).Text); return; }
            if (v is int || v is long || v is ulong) { sb.Append(Convert.ToString(v, Inv)); return; }
            var obj = v as JObj;
            if (obj != null)
            {
                sb.Append('{');
                for (int i = 0; i < obj.Count; i++)
                {
                    if (i > 0) sb.Append(',');
                    Str(sb, obj[i].Key);
                    sb.Append(':');
                    Write(sb, obj[i].Value);
                }
                sb.Append('}');
                return;
            }
            var list = v as System.Collections.IList;
            if (list != null)
            {
                sb.Append('[');
                for (int i = 0; i < list.Count; i++)
                {
                    if (i > 0) sb.Append(',');
                    Write(sb, list[i]);
                }
                sb.Append(']');
                return;
            }
            throw new ArgumentException("no JSON form for " + v.GetType());
        }

        // RFC 8259 string: escape quote, backslash and C0 controls; everything else stays UTF-8.
        static void Str(StringBuilder sb, string s)
        {
            sb.Append('"');
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': sb.Append("\\\""); break;
                    case '\\': sb.Append("\\\\"); break;
                    case '\n': sb.Append("\\n"); break;
                    case '\r': sb.Append("\\r"); break;
                    case '\t': sb.Append("\\t"); break;
                    default:
                        if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4"));
                        else sb.Append(c);
                        break;
                }
            }
            sb.Append('"');
        }
    }

    // What the next message on this thread is, set by the caller just before a proxy call.
    public class Pending
    {
        public int Conn;
        public int Call;
        public bool OneWay;
        public object Body;
    }

    // The truth file. Message inspectors write request/callback lines at the moment the message is
    // handed to (or taken from) the channel, so the file is in wire order per connection.
    public static class Truth
    {
        static readonly object Gate = new object();
        static StreamWriter writer;
        public static string Scenario = "";

        [ThreadStatic] static Pending pending;
        [ThreadStatic] static MessageHeaders lastReply;
        static int faults;  // faults received so far, the index into the server's SentFaults log
        public static string FaultLog;  // the server's SentFaults file, in the same work directory

        public static void Open(string path, string scenario)
        {
            Scenario = scenario;
            writer = new StreamWriter(path, false, new UTF8Encoding(false));
            writer.NewLine = "\n";
        }

        public static void Close() { lock (Gate) writer.Dispose(); }

        public static void Expect(int conn, int call, bool oneWay, object body)
        {
            pending = new Pending { Conn = conn, Call = call, OneWay = oneWay, Body = body };
        }

        // Called by the client inspector as the request leaves.
        internal static void Sent(MessageHeaders headers)
        {
            var p = pending;
            if (p == null) throw new InvalidOperationException("proxy call without Truth.Expect: " + headers.Action);
            lastReply = null;
            Line(p.Conn, p.Call, "request", headers, p.OneWay, p.Body);
        }

        public static void SentOneWay(int conn, int call, string action, UniqueId messageId, object body)
        {
            Write(Record(conn, call, "request", action, true, messageId.ToString(), null, body));
        }

        internal static void Received(MessageHeaders headers) { lastReply = headers; }

        // Called by the client after a two-way call returned (or threw a fault).
        public static void Reply(object body) { Answer("reply", body); }

        // A fault's body as FaultException reports it; its headers as the server's inspector saw them leave.
        public static void Fault(FaultException fault, object detail)
        {
            var body = new JObj().Add("code", fault.Code.Name).Add("code_ns", fault.Code.Namespace)
                .Add("subcode", fault.Code.SubCode == null ? null : fault.Code.SubCode.Name)
                .Add("subcode_ns", fault.Code.SubCode == null ? null : fault.Code.SubCode.Namespace)
                .Add("reason", fault.Reason.ToString()).Add("detail", detail);
            var p = pending;
            var sent = SentFaults.Read(FaultLog, faults++);
            Write(Record(p.Conn, p.Call, "fault", sent[0], false, sent[1], sent[2], body));
            pending = null;
            lastReply = null;
        }

        static void Answer(string dir, object body)
        {
            var p = pending;
            Line(p.Conn, p.Call, dir, lastReply, false, body);
            pending = null;
            lastReply = null;
        }

        // The receiving side of a callback writes what it got (and, for two-way callbacks, what it answered).
        public static void Callback(int conn, int call, string dir, MessageHeaders headers, bool oneWay, object body)
        {
            Line(conn, call, dir, headers, oneWay, body);
        }

        // The client's answer to a two-way callback. Mono runs no dispatch inspector on callbacks, so its
        // headers are stated, not observed: WCF's default reply action (request action + "Response"),
        // RelatesTo = the callback's MessageID, no MessageID (as on every Mono reply). The live test checks
        // the RelatesTo against the capture.
        public static void CallbackReply(int conn, int call, MessageHeaders request, object body)
        {
            Write(Record(conn, call, "callback_reply", request.Action + "Response", false, null,
                request.MessageId == null ? null : request.MessageId.ToString(), body));
        }

        static void Line(int conn, int call, string dir, MessageHeaders h, bool oneWay, object body)
        {
            Write(Record(conn, call, dir, h == null ? null : h.Action, oneWay,
                h == null || h.MessageId == null ? null : h.MessageId.ToString(),
                h == null || h.RelatesTo == null ? null : h.RelatesTo.ToString(), body));
        }

        static JObj Record(int conn, int call, string dir, string action, bool oneWay, string messageId,
            string relatesTo, object body)
        {
            return new JObj().Add("scenario", Scenario).Add("conn", conn).Add("call", call).Add("dir", dir)
                .Add("action", action).Add("one_way", oneWay).Add("message_id", messageId)
                .Add("relates_to", relatesTo).Add("body", body);
        }

        static void Write(JObj rec)
        {
            var text = J.Write(rec);
            lock (Gate) { writer.WriteLine(text); writer.Flush(); }
        }
    }

    // The server's record of the faults it sent: "action TAB message_id TAB relates_to" lines, written and
    // flushed before each fault goes out. Mono's fault replies carry neither MessageID nor RelatesTo, so
    // the client pairs them by order: its k-th fault is the k-th line (scenarios with faults use one session).
    public class SentFaults : IDispatchMessageInspector, IEndpointBehavior
    {
        readonly string path;

        public SentFaults(string path) { this.path = path; }

        public object AfterReceiveRequest(ref Message request, IClientChannel channel, InstanceContext context)
        {
            return null;
        }

        public void BeforeSendReply(ref Message reply, object correlationState)
        {
            if (reply == null || !reply.IsFault) return;
            var h = reply.Headers;
            var line = string.Join("\t", h.Action ?? "", Str(h.MessageId), Str(h.RelatesTo)) + "\n";
            lock (this) File.AppendAllText(path, line, new UTF8Encoding(false));
        }

        static string Str(UniqueId id) { return id == null ? "" : id.ToString(); }

        // [action, message_id, relates_to] of the index-th fault the server sent (empty fields as null).
        public static string[] Read(string path, int index)
        {
            var lines = File.ReadAllLines(path);
            if (index >= lines.Length) throw new InvalidOperationException("the server logged no fault #" + index);
            var f = lines[index].Split('\t');
            return new[] { f[0] == "" ? null : f[0], f[1] == "" ? null : f[1], f[2] == "" ? null : f[2] };
        }

        public void ApplyDispatchBehavior(ServiceEndpoint endpoint, EndpointDispatcher dispatcher)
        {
            dispatcher.DispatchRuntime.MessageInspectors.Add(this);
        }

        public void AddBindingParameters(ServiceEndpoint endpoint, BindingParameterCollection parameters) { }
        public void ApplyClientBehavior(ServiceEndpoint endpoint, ClientRuntime runtime) { }
        public void Validate(ServiceEndpoint endpoint) { }
    }

    // Captures addressing headers of the client's requests and replies.
    public class TruthInspector : IClientMessageInspector, IEndpointBehavior
    {
        public object BeforeSendRequest(ref Message request, IClientChannel channel)
        {
            Truth.Sent(request.Headers);
            return null;
        }

        public void AfterReceiveReply(ref Message reply, object correlationState) { Truth.Received(reply.Headers); }

        public void ApplyClientBehavior(ServiceEndpoint endpoint, ClientRuntime runtime)
        {
            runtime.MessageInspectors.Add(this);
        }

        public void AddBindingParameters(ServiceEndpoint endpoint, BindingParameterCollection parameters) { }
        public void ApplyDispatchBehavior(ServiceEndpoint endpoint, EndpointDispatcher dispatcher) { }
        public void Validate(ServiceEndpoint endpoint) { }
    }
}
