FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml constraints.txt README.md ./
COPY cds ./cds
COPY cards ./cards
# A numeric user, so Kubernetes can check runAsNonRoot (deploy/kubernetes runs the pods as 10001:10001)
RUN pip install --no-cache-dir -c constraints.txt '.[postgres]' \
 && groupadd --system --gid 10001 cds && useradd --system --uid 10001 --gid 10001 --no-create-home cds
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
CMD ["tacrolimus-cds", "serve", "--host", "0.0.0.0", "--port", "8000"]
