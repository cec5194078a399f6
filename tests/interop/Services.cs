// Service implementations hosted by the "server" role.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.ServiceModel;
using System.ServiceModel.Channels;

namespace Wirecap.Interop
{
    [ServiceBehavior(InstanceContextMode = InstanceContextMode.PerSession, ConcurrencyMode = ConcurrencyMode.Multiple)]
    public class OrderSyncService : IOrderSync
    {
        static readonly Dictionary<Guid, Order> Orders = new Dictionary<Guid, Order>();

        public SaveResult SaveOrder(Order order)
        {
            lock (Orders) Orders[order.Id] = order;
            return new SaveResult
            {
                OrderId = order.Id, Revision = order.Revision + 1,
                SavedAt = new DateTime(2026, 11, 29, 9, 30, 15, 123, DateTimeKind.Utc).AddTicks(4567),
                ItemCount = order.Items == null ? 0 : order.Items.Count,
            };
        }

        public Order GetOrder(Guid id)
        {
            lock (Orders) { Order o; return Orders.TryGetValue(id, out o) ? o : null; }
        }

        public TerminalStats GetStats(string terminal, DateTime since)
        {
            return new TerminalStats
            {
                AverageCheck = 1234.5678, Load = 0.75f, TotalTicks = since.Ticks,
                Uptime = new TimeSpan(3, 4, 5, 6, 789), Counter = ulong.MaxValue, Shift = -12, Flags = 0xA5,
                Delta = -128, Endpoint = new Uri("net.tcp://127.0.0.1:8506/OrderSync"),
                OpenNumbers = new[] { 1, 0, -1, 2147483647, -2147483648 },
                Tags = new List<string> { terminal, "", "бар", "a<b&c>\"d'" },
            };
        }

        public byte[] Echo(byte[] data, bool reverse)
        {
            return reverse ? data.Reverse().ToArray() : data;
        }

        public decimal Total(decimal[] sums) { return sums.Sum(); }

        public string Hello(string name) { return "Привет, " + name + "!"; }

        public void DeleteOrder(Guid id, string reason)
        {
            lock (Orders)
            {
                if (Orders.Remove(id)) return;
            }
            throw new FaultException<OrderFault>(new OrderFault { OrderId = id, Reason = reason },
                new FaultReason("Заказ не найден"), new FaultCode("OrderNotFound"));
        }

        public void Ping(string terminal, long seq) { }

        public void NotifyChanged(Guid orderId, int revision, DateTime at) { }
    }

    [ServiceBehavior(InstanceContextMode = InstanceContextMode.PerCall)]
    public class BlobStoreService : IBlobStore
    {
        public long Upload(Stream data)
        {
            long n = 0;
            var buf = new byte[4096];
            int got;
            while ((got = data.Read(buf, 0, buf.Length)) > 0) n += got;
            return n;
        }

        public Stream Download(string name) { return new MemoryStream(Data.Blob(name, 8000)); }

        public Message Raw(Message request)
        {
            var table = request.GetBody<Table>();
            return Message.CreateMessage(request.Version, "urn:wirecap/RawReply", "стол " + table.Num + ": " + table.Name);
        }
    }

    [ServiceBehavior(InstanceContextMode = InstanceContextMode.PerSession, ConcurrencyMode = ConcurrencyMode.Reentrant)]
    public class OrderWatchService : IOrderWatch
    {
        public int Subscribe(string terminal, int count)
        {
            var cb = OperationContext.Current.GetCallbackChannel<IOrderEvents>();
            for (int i = 1; i <= count; i++)
            {
                cb.OrderChanged(Data.Id(100 + i), i, i % 2 == 0 ? "Bill" : "New");
                cb.Confirm(i);
            }
            return count;
        }

        public void Touch(Guid orderId)
        {
            OperationContext.Current.GetCallbackChannel<IOrderEvents>().OrderChanged(orderId, 99, "Touched");
        }
    }
}
