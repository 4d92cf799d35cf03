// Message bodies: IMessageBody.As<T>(preserveContent) for the content types APIM documents.
using System;
using System.Text;
using System.Xml.Linq;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace Aeg.Sandbox.Apim
{
    public interface IMessageBody
    {
        T As<T>(bool preserveContent = false);
    }
}

namespace Aeg.Sandbox.Apim.Runtime
{
    public sealed class MessageBody : IMessageBody
    {
        string content;

        public MessageBody(string content) { this.content = content; }

        /// <summary>True once an expression read the body without preserveContent.</summary>
        public bool Consumed { get; private set; }

        /// <summary>The text still available to later readers (the backend, a later policy).</summary>
        public string Content { get { return content; } }

        public T As<T>(bool preserveContent = false)
        {
            var text = content ?? "";
            // APIM reads the body stream: without preserveContent, later readers find it empty.
            if (!preserveContent)
            {
                content = "";
                Consumed = true;
            }
            return (T)Convert(text, typeof(T));
        }

        static object Convert(string text, Type type)
        {
            if (type == typeof(string)) return text;
            if (type == typeof(byte[])) return Encoding.UTF8.GetBytes(text);
            if (type == typeof(JObject)) return JObject.Load(Reader(text));
            if (type == typeof(JArray)) return JArray.Load(Reader(text));
            if (type == typeof(JToken)) return JToken.Load(Reader(text));
            if (type == typeof(XDocument)) return XDocument.Parse(text);
            if (type == typeof(XElement) || type == typeof(XNode)) return XElement.Parse(text);
            throw new NotSupportedException("IMessageBody.As<" + type.Name + "> is not supported; use string, byte[], JObject, JArray, JToken, XNode, XElement or XDocument.");
        }

        // Keep ISO dates as strings, as the raw JSON has them.
        static JsonReader Reader(string text)
        {
            return new JsonTextReader(new System.IO.StringReader(text)) { DateParseHandling = DateParseHandling.None };
        }
    }
}
